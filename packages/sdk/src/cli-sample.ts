import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { snapNumberOfFrames } from "@a2v/dataset";
import { A2VError } from "@a2v/errors";
import {
  ensureTinyModel,
  type LtxModel,
  LtxTransformer,
  loadLoraFile,
  openLtxModel,
  transformerParameters,
} from "@a2v/ltx-model";
import { init, releaseGpu, rt } from "@a2v/tensor-webgpu";
import { registerLora, type ValidationRequest, ValidationSampler } from "@a2v/trainer";
import { resolutionFor } from "./buckets.js";
import type { CliOut } from "./cli-io.js";
import {
  ASPECT_RATIOS,
  type AspectRatio,
  DEFAULT_VALIDATION_NEGATIVE_PROMPT,
  RESOLUTIONS,
  type Resolution,
} from "./input.js";
import { defaultCacheDir } from "./train/train.js";

export const SAMPLE_USAGE =
  "a2v sample --lora FILE --image I --audio A --prompt P --out OUT.mp4 [--model tiny | --checkpoint F --text-encoder D]\n" +
  "      [--seed N] [--frames N] [--fps F] [--resolution R] [--aspect-ratio A] [--stg-scale S] [--steps N]\n" +
  "      [--size WxH] [--negative-prompt P] [--shift training|upstream] [--cache-dir DIR] [--allow-private-network] [--json]";

function usage(message: string): A2VError {
  return new A2VError("usage", `${message}: ${SAMPLE_USAGE}`, { status: 400 });
}

function numberFlag(flag: string, value: string | undefined, integer: boolean): number | undefined {
  if (value === undefined) return undefined;
  const ok = integer ? /^-?\d+$/.test(value) : /^-?(\d+\.?\d*|\.\d+)$/.test(value);
  if (!ok) throw usage(`--${flag} must be ${integer ? "an integer" : "a number"}, got "${value}"`);
  return Number(value);
}

/** `--size WxH`: any frame size in multiples of 32 (the VAE's stride) instead of a service bucket. */
function size(value: string): { width: number; height: number } {
  const m = /^(\d+)x(\d+)$/.exec(value);
  const [width, height] = m ? [Number(m[1]), Number(m[2])] : [0, 0];
  if (!m || width < 32 || height < 32 || width > 4096 || height > 4096 || width % 32 !== 0 || height % 32 !== 0)
    throw usage(`--size is WxH in multiples of 32 (32..4096), got "${value}"`);
  return { width, height };
}

function oneOf<T extends string>(flag: string, value: string | undefined, allowed: readonly T[], fallback: T): T {
  if (value === undefined) return fallback;
  if (!(allowed as readonly string[]).includes(value)) throw usage(`--${flag} is one of ${allowed.join(", ")}`);
  return value as T;
}

/**
 * `a2v sample`: one preview with a trained LoRA, sampled exactly as training's validation previews are (the same
 * `ValidationSampler`): start image + conditioning audio + prompt → mp4 with the audio.
 */
export async function sampleCommand(args: string[], out: CliOut): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      lora: { type: "string" },
      image: { type: "string" },
      audio: { type: "string" },
      prompt: { type: "string" },
      "negative-prompt": { type: "string" },
      out: { type: "string" },
      model: { type: "string" },
      checkpoint: { type: "string" },
      "text-encoder": { type: "string" },
      seed: { type: "string" },
      frames: { type: "string" },
      fps: { type: "string" },
      resolution: { type: "string" },
      "aspect-ratio": { type: "string" },
      size: { type: "string" },
      "stg-scale": { type: "string" },
      steps: { type: "string" },
      shift: { type: "string" },
      "cache-dir": { type: "string" },
      "allow-private-network": { type: "boolean" },
      json: { type: "boolean" },
    },
  });
  for (const flag of ["lora", "image", "audio", "prompt", "out"] as const)
    if (values[flag] === undefined) throw usage(`sample needs --${flag}`);
  if (values.model !== undefined && values.model !== "tiny") throw usage(`--model is "tiny" or absent`);
  if (Boolean(values.checkpoint) !== Boolean(values["text-encoder"]) || (values.checkpoint && values.model))
    throw usage("give --checkpoint and --text-encoder together, or --model tiny");
  const frames = numberFlag("frames", values.frames, true) ?? 89;
  const fps = numberFlag("fps", values.fps, false) ?? 24;
  const steps = numberFlag("steps", values.steps, true) ?? 30;
  const stgScale = numberFlag("stg-scale", values["stg-scale"], false) ?? 1;
  if (frames < 9 || frames > 121) throw usage(`--frames is 9..121, got ${frames}`);
  if (!(fps > 0) || fps > 60) throw usage(`--fps is in (0, 60], got ${fps}`);
  if (steps < 1 || steps > 200) throw usage(`--steps is 1..200, got ${steps}`);
  if (!(stgScale >= 0 && stgScale <= 3)) throw usage(`--stg-scale is 0..3, got ${stgScale}`);
  const resolution = oneOf<Resolution>("resolution", values.resolution, RESOLUTIONS, "high");
  const aspect = oneOf<AspectRatio>("aspect-ratio", values["aspect-ratio"], ASPECT_RATIOS, "1:1");
  const shift = oneOf("shift", values.shift, ["training", "upstream"] as const, "training");
  const request: ValidationRequest = {
    image: values.image!,
    audio: values.audio!,
    prompt: values.prompt!,
    negativePrompt: values["negative-prompt"] ?? DEFAULT_VALIDATION_NEGATIVE_PROMPT,
    frames: snapNumberOfFrames(frames),
    fps,
    bucket: values.size === undefined ? resolutionFor(resolution, aspect) : size(values.size),
    stgScale,
    seed: numberFlag("seed", values.seed, true) ?? 42,
    steps,
    shift,
  };
  const cacheDir = resolve(values["cache-dir"] ?? defaultCacheDir());
  const paths = values.checkpoint
    ? { checkpoint: resolve(values.checkpoint), textEncoder: resolve(values["text-encoder"]!) }
    : await ensureTinyModel(join(cacheDir, "models"));
  const log = (s: string) => {
    if (!values.json) out.stderr(s);
  };
  let model: LtxModel | undefined;
  let backend: LtxTransformer | undefined;
  let sampler: ValidationSampler | undefined;
  try {
    const loaded = await loadLoraFile(resolve(values.lora!));
    model = await openLtxModel(paths);
    await init();
    // Fused kernels on GPUs; the composed ops on CPU adapters (lavapipe), as training picks them.
    backend = new LtxTransformer({ fused: !rt().gpu.info.isSoftware });
    log("loading the transformer");
    await backend.loadWeights(
      model.transformerWeights,
      transformerParameters(model.transformer).map((p) => p.key),
    );
    const lora = registerLora(backend, model.transformer, loaded);
    sampler = await ValidationSampler.create(model, {
      cacheDir,
      allowPrivateNetwork: values["allow-private-network"],
    });
    log(`sampling ${request.frames} frames at ${request.bucket.width}x${request.bucket.height}, ${steps} steps`);
    const result = await sampler.sample(backend, lora, request, values.out!, {
      onStep: (e) => log(`step ${e.step}/${e.steps} (sigma ${e.sigma.toFixed(4)})`),
    });
    const summary = {
      file: result.file,
      frames: request.frames,
      fps: request.fps,
      width: request.bucket.width,
      height: request.bucket.height,
      steps,
      seed: request.seed,
      passesPerStep: result.passesPerStep,
      seconds: result.seconds,
    };
    out.stdout(
      values.json
        ? JSON.stringify(summary, null, 2)
        : `${result.file}: ${request.bucket.width}x${request.bucket.height}, ${request.frames} frames at ${fps} fps, ` +
            `${steps} steps in ${result.seconds.total.toFixed(1)} s`,
    );
    return 0;
  } finally {
    await sampler?.dispose();
    backend?.dispose();
    await model?.close();
    releaseGpu();
  }
}
