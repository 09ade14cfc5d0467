import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { createRunDir, formatPreprocessSummary, loadDataset, preprocess, printable, removeRunDir } from "@a2v/dataset";
import { A2VError } from "@a2v/errors";
import { preflight } from "./cli-checks.js";
import type { CliOut } from "./cli-io.js";
import { downloadFlags, forDisplay, trapSignals } from "./cli-validate.js";
import { parseTrainInput, sampleOptionsFor } from "./input.js";

export const PREPROCESS_USAGE =
  "a2v preprocess <zip|url> --out DIR [--resolution low|medium|high] [--aspect-ratio 16:9|1:1|9:16] [--number-of-frames N]\n" +
  "      [--frame-rate F] [--auto-scale-input] [--split-input-into-scenes] [--split-input-duration-threshold S]\n" +
  "      [--no-audio-normalize] [--no-audio-preserve-pitch] [--trigger-phrase P] [--debug-dataset]\n" +
  "      [--max-archive-bytes B] [--download-deadline S] [--allow-private-network] [--json]";

/** CLI strings become numbers only when they are numbers, so the schema reports anything else by field name. */
function numeric(value: string | undefined): number | string | undefined {
  return value !== undefined && /^-?\d+(\.\d+)?$/.test(value) ? Number(value) : value;
}

/**
 * `a2v preprocess`: validate the archive like the service, then turn it into training samples (bucket, frame count,
 * fps, assembled start image and fitted audio), cached under DIR, with `debug_dataset.zip` on request.
 */
export async function preprocessCommand(args: string[], out: CliOut): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      out: { type: "string" },
      resolution: { type: "string" },
      "aspect-ratio": { type: "string" },
      "number-of-frames": { type: "string" },
      "frame-rate": { type: "string" },
      "auto-scale-input": { type: "boolean" },
      "split-input-into-scenes": { type: "boolean" },
      "split-input-duration-threshold": { type: "string" },
      "no-audio-normalize": { type: "boolean" },
      "no-audio-preserve-pitch": { type: "boolean" },
      "trigger-phrase": { type: "string" },
      "debug-dataset": { type: "boolean" },
      "max-archive-bytes": { type: "string" },
      "download-deadline": { type: "string" },
      "allow-private-network": { type: "boolean" },
      json: { type: "boolean" },
    },
  });
  const source = positionals[0];
  if (!source || !values.out) {
    throw new A2VError("usage", `preprocess needs an archive and --out: ${PREPROCESS_USAGE}`, { status: 400 });
  }
  await preflight({ source, outDir: values.out, temp: true });
  // The same contract as a training request: ranges, enums, snapping and defaults come from the schema.
  const input = parseTrainInput({
    training_data_url: source,
    trigger_phrase: values["trigger-phrase"],
    number_of_frames: numeric(values["number-of-frames"]),
    frame_rate: numeric(values["frame-rate"]),
    resolution: values.resolution,
    aspect_ratio: values["aspect-ratio"],
    auto_scale_input: values["auto-scale-input"],
    split_input_into_scenes: values["split-input-into-scenes"],
    split_input_duration_threshold: numeric(values["split-input-duration-threshold"]),
    audio_normalize: values["no-audio-normalize"] ? false : undefined,
    audio_preserve_pitch: values["no-audio-preserve-pitch"] ? false : undefined,
    debug_dataset: values["debug-dataset"],
  });
  const limits = downloadFlags(values);
  const progress = (line: string) => {
    if (!values.json) (out.progress ?? out.stderr)(line);
  };
  // Everything temporary (download, extracted files, debug scratch) lives in one run folder, removed at
  // the end or by the SIGINT/SIGTERM handler; the cache under --out keeps what training reads.
  const untrap = await trapSignals(out);
  const runDir = await createRunDir();
  const extractTo = join(runDir, "files");
  try {
    const manifest = await loadDataset(source, {
      triggerPhrase: input.trigger_phrase,
      numberOfFrames: input.number_of_frames,
      frameRate: input.frame_rate,
      autoScaleInput: input.auto_scale_input,
      allowPrivateNetwork: values["allow-private-network"],
      ...limits,
      tempDir: runDir,
      extractTo,
      onProgress: (e) =>
        progress(e.phase === "download" ? `download ${e.bytes} bytes` : `${e.phase} ${e.done}/${e.total}`),
    });
    const summary = await preprocess({
      groups: manifest,
      outDir: resolve(values.out),
      ...sampleOptionsFor(input),
      debugDataset: input.debug_dataset,
      tempDir: runDir,
      onProgress: (e) =>
        progress(
          `preprocess ${bar(e.groupsDone, e.groupsTotal)} ${e.groupsDone}/${e.groupsTotal} ${printable(e.group)}`,
        ),
    });
    out.stdout(values.json ? JSON.stringify(summary, null, 2) : formatPreprocessSummary(summary));
    return 0;
  } catch (error) {
    throw forDisplay(error, values.json);
  } finally {
    await removeRunDir(runDir);
    untrap();
  }
}

function bar(done: number, total: number, width = 20): string {
  const filled = total === 0 ? width : Math.round((done / total) * width);
  return `[${"#".repeat(filled)}${".".repeat(width - filled)}]`;
}
