import { parseArgs } from "node:util";
import { type AudioFitReport, type AudioFitRequest, DEFAULT_TARGET_DBFS, fitAudioFile } from "@a2v/audio";
import { EXIT } from "@a2v/errors";
import { type CliOut, usageError } from "./cli-io.js";

export const AUDIO_FIT_USAGE =
  "a2v audio fit <in> <out> --duration S [--no-preserve-pitch] [--no-normalize] [--target-dbfs D] [--json]";

/**
 * `a2v audio <command> ...` (args after "audio"); `fit` is the one command: `fitAudioFile` of `@a2v/audio` on the
 * command line. Prints input/output duration, stretch factor and peak before/after, or the report with --json.
 */
export async function audioCommand(args: string[], out: CliOut): Promise<number> {
  const [command, ...rest] = args;
  if (command === "help") {
    out.stdout(`usage: ${AUDIO_FIT_USAGE}`);
    return EXIT.ok;
  }
  if (command !== "fit") {
    throw usageError(command ? `unknown audio command "${command}"` : "missing the audio command (fit)");
  }
  const { request, json } = parseFitArgs(rest);
  const report = await fitAudioFile(request);
  out.stdout(json ? JSON.stringify(report, null, 2) : formatReport(report));
  return EXIT.ok;
}

function parseFitArgs(args: string[]): { request: AudioFitRequest; json: boolean } {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      duration: { type: "string" },
      "no-preserve-pitch": { type: "boolean", default: false },
      "no-normalize": { type: "boolean", default: false },
      "target-dbfs": { type: "string" },
      json: { type: "boolean", default: false },
    },
  });
  const [input, output, ...extra] = positionals;
  if (!input || !output || extra.length > 0) throw usageError("expected exactly <in> and <out>");
  const durationSeconds = Number(values.duration);
  if (values.duration === undefined || !Number.isFinite(durationSeconds) || durationSeconds <= 0) {
    throw usageError(`--duration must be a positive number of seconds, got ${values.duration ?? "nothing"}`);
  }
  const targetDbfs = values["target-dbfs"] === undefined ? DEFAULT_TARGET_DBFS : Number(values["target-dbfs"]);
  if (!Number.isFinite(targetDbfs)) throw usageError(`--target-dbfs must be a number, got ${values["target-dbfs"]}`);
  return {
    request: {
      input,
      output,
      durationSeconds,
      preservePitch: !values["no-preserve-pitch"],
      normalize: !values["no-normalize"],
      targetDbfs,
    },
    json: values.json,
  };
}

function formatReport(r: AudioFitReport): string {
  const db = (v: number) => (Number.isFinite(v) ? `${v.toFixed(2)} dBFS` : "silence");
  return [
    `${r.input} -> ${r.output} (${r.channels} ch, ${r.sampleRate} Hz)`,
    `duration: ${r.inputSeconds.toFixed(3)} s -> ${r.outputSeconds.toFixed(3)} s (stretch x${r.stretchFactor.toFixed(4)}, ${r.preservePitch ? "pitch preserved" : "trimmed/padded"})`,
    `peak: ${db(r.peakBeforeDbfs)} -> ${db(r.peakAfterDbfs)}${r.normalized ? "" : " (not normalised)"}`,
  ].join("\n");
}
