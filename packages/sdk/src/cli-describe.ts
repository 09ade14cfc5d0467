import { parseArgs } from "node:util";
import { A2VError } from "@a2v/errors";
import {
  describe,
  formatDescription,
  LTX_23_TEXT_PATH,
  LTX23_VAE,
  PRESETS,
  type PresetName,
  planDecodeMemory,
  preset,
  videoVaeConfig,
  type WeightMode,
} from "@a2v/ltx-model";

const WEIGHT_MODES: readonly WeightMode[] = ["f32", "bf16", "fp8", "int8"];

import { resolutionFor } from "./buckets.js";
import { type CliOut, usageError } from "./cli-io.js";
import { parseTrainInput } from "./input.js";

export const DESCRIBE_USAGE =
  "a2v describe [--preset ltx-2.3-22b|tiny] [--resolution R] [--aspect-ratio A] [--number-of-frames N] [--frame-rate F] [--rank R] [--weights f32|bf16|fp8|int8] [--json]";

const numeric = (value: string | undefined) => (value !== undefined && /^\d+$/.test(value) ? Number(value) : value);

/** `a2v describe`: parameter counts and the GPU memory one training step needs, for a preset at the given settings. */
export async function describeCommand(args: string[], out: CliOut): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      preset: { type: "string", default: "ltx-2.3-22b" },
      resolution: { type: "string" },
      "aspect-ratio": { type: "string" },
      "number-of-frames": { type: "string" },
      "frame-rate": { type: "string" },
      rank: { type: "string" },
      weights: { type: "string" },
      json: { type: "boolean" },
    },
  });
  const name = values.preset as PresetName;
  if (!(name in PRESETS)) {
    throw new A2VError("invalid_input", `unknown preset "${name}" (known: ${Object.keys(PRESETS).join(", ")})`, {
      status: 422,
      details: [{ code: "invalid_value", path: ["preset"], message: `unknown preset ${name}` }],
    });
  }
  // Settings are checked by the training input contract, so the estimate is for a request the service accepts.
  const input = parseTrainInput({
    training_data_url: "-",
    resolution: values.resolution,
    aspect_ratio: values["aspect-ratio"],
    number_of_frames: numeric(values["number-of-frames"]),
    frame_rate: numeric(values["frame-rate"]),
    rank: numeric(values.rank),
  });
  const { width, height } = resolutionFor(input.resolution, input.aspect_ratio);
  const weights = values.weights;
  if (weights !== undefined && !WEIGHT_MODES.includes(weights as WeightMode)) {
    throw usageError(`--weights must be one of ${WEIGHT_MODES.join(", ")}, not ${weights}`);
  }
  const description = describe(preset(name), {
    width,
    height,
    frames: input.number_of_frames,
    fps: input.frame_rate,
    loraRank: input.rank,
    textPath: name === "ltx-2.3-22b" ? LTX_23_TEXT_PATH : null,
  });
  // `--weights` narrows the plan to one base-weight mode.
  if (weights !== undefined) {
    const only = description.trainingStepBytes[weights as WeightMode];
    description.trainingStepBytes = { [weights]: only } as typeof description.trainingStepBytes;
  }
  // The validation previews' decode at the service's validation defaults (high 1:1, 89 frames), 22B VAE only.
  const validation = resolutionFor(input.validation_resolution, input.validation_aspect_ratio);
  const decode =
    name === "ltx-2.3-22b"
      ? planDecodeMemory(videoVaeConfig(LTX23_VAE), { ...validation, frames: input.validation_number_of_frames })
      : undefined;
  const gib = (bytes: number) => `${(bytes / 2 ** 30).toFixed(2)} GiB`;
  const decodeText = decode
    ? `\nvalidation decode at ${validation.width}x${validation.height}, ${input.validation_number_of_frames} frames: ` +
      `untiled ${gib(decode.untiled.weightBytes + decode.untiled.peakActivationBytes)} ` +
      `(activations ${gib(decode.untiled.peakActivationBytes)}, largest buffer ${gib(decode.untiled.largestBufferBytes)}); ` +
      `tiled 512 px x 64 frames ${gib(decode.tiled.totalBytes)} (one tile ${gib(decode.tiled.tile.peakActivationBytes)}, output ${gib(decode.tiled.outputBytes)})`
    : "";
  out.stdout(
    values.json
      ? JSON.stringify({ preset: name, width, height, frames: input.number_of_frames, ...description, decode }, null, 2)
      : `${name} at ${width}x${height}, ${input.number_of_frames} frames @ ${input.frame_rate} fps\n${formatDescription(description)}${decodeText}`,
  );
  return 0;
}
