import { parseArgs } from "node:util";
import {
  type DatasetProgress,
  formatManifest,
  installSignalCleanup,
  type LoadDatasetOptions,
  loadDataset,
  printable,
  printableError,
  sweepStaleRunDirs,
} from "@a2v/dataset";
import { A2VError, isA2VError } from "@a2v/errors";
import { preflight } from "./cli-checks.js";

import type { CliOut as Out } from "./cli-io.js";

export const VALIDATE_USAGE =
  "a2v validate <zip|url> [--trigger-phrase P] [--number-of-frames N] [--frame-rate F] [--auto-scale-input]\n" +
  "      [--max-archive-bytes B] [--download-deadline S] [--allow-private-network] [--json]";

/** `--max-archive-bytes` and `--download-deadline` (seconds) as loadDataset options; a bad value is a usage error. */
export function downloadFlags(values: {
  "max-archive-bytes"?: string;
  "download-deadline"?: string;
}): Pick<LoadDatasetOptions, "caps" | "download"> {
  const number = (flag: string, value: string | undefined): number | undefined => {
    if (value === undefined) return undefined;
    const n = Number(value);
    if (!/^\d+(\.\d+)?$/.test(value) || !(n > 0)) {
      throw new A2VError("usage", `--${flag} must be a positive number, got "${value}"`, { status: 400 });
    }
    return n;
  };
  const maxArchiveBytes = number("max-archive-bytes", values["max-archive-bytes"]);
  const deadline = number("download-deadline", values["download-deadline"]);
  return {
    ...(maxArchiveBytes === undefined ? {} : { caps: { maxArchiveBytes: Math.floor(maxArchiveBytes) } }),
    ...(deadline === undefined ? {} : { download: { deadlineMs: Math.round(deadline * 1000) } }),
  };
}

/**
 * A dataset error about to be printed for people: names from the archive (file, group) are shown with bidi
 * overrides and C1 controls escaped as well; with --json they stay exact.
 */
export function forDisplay(error: unknown, json: boolean | undefined): unknown {
  return !json && isA2VError(error) ? printableError(error, true) : error;
}

/**
 * SIGINT/SIGTERM during a dataset command: children (ffmpeg, ffprobe) ended, temp folders removed, a
 * line on stderr, exit 130/143. Stale run folders of dead processes are swept at start.
 */
export async function trapSignals(out: Out, extraDirs: () => string[] = () => []): Promise<() => void> {
  await sweepStaleRunDirs();
  return installSignalCleanup(extraDirs, {
    onSignal: (signal, { killed, removed }) =>
      out.stderr(
        `a2v: ${signal}: stopped ${killed.length} child process${killed.length === 1 ? "" : "es"}, removed ${removed.length} temp folder${removed.length === 1 ? "" : "s"}`,
      ),
  });
}

function progressLine(event: DatasetProgress): string {
  if (event.phase === "download") {
    const mib = (n: number) => `${(n / 2 ** 20).toFixed(1)} MiB`;
    return `download ${mib(event.bytes)}${event.totalBytes ? ` / ${mib(event.totalBytes)}` : ""}`;
  }
  return `${event.phase} ${event.done}/${event.total} ${printable(event.file)}`;
}

/** `a2v validate`: the service's dataset checks; exit 0 when valid, 3 when rejected (422). */
export async function validateCommand(args: string[], out: Out): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      "trigger-phrase": { type: "string" },
      "number-of-frames": { type: "string" },
      "frame-rate": { type: "string" },
      "auto-scale-input": { type: "boolean" },
      "max-archive-bytes": { type: "string" },
      "download-deadline": { type: "string" },
      "allow-private-network": { type: "boolean" },
      json: { type: "boolean" },
    },
  });
  const source = positionals[0];
  if (!source) throw new A2VError("usage", `missing the archive: ${VALIDATE_USAGE}`, { status: 400 });
  await preflight({ source, temp: true });
  const frames = values["number-of-frames"];
  if (frames !== undefined && !/^\d+$/.test(frames)) {
    throw new A2VError("invalid_input", `--number-of-frames must be an integer, got "${frames}"`, {
      status: 422,
      details: [{ code: "invalid_type", path: ["number_of_frames"], message: `not an integer: ${frames}` }],
    });
  }
  const rate = values["frame-rate"];
  if (rate !== undefined && !/^\d+$/.test(rate)) {
    throw new A2VError("invalid_input", `--frame-rate must be an integer, got "${rate}"`, {
      status: 422,
      details: [{ code: "invalid_type", path: ["frame_rate"], message: `not an integer: ${rate}` }],
    });
  }
  const limits = downloadFlags(values);
  let lastProgress = 0;
  const untrap = await trapSignals(out);
  try {
    const manifest = await loadDataset(source, {
      triggerPhrase: values["trigger-phrase"],
      numberOfFrames: frames === undefined ? undefined : Number(frames),
      frameRate: rate === undefined ? undefined : Number(rate),
      autoScaleInput: values["auto-scale-input"],
      allowPrivateNetwork: values["allow-private-network"],
      ...limits,
      // Progress goes to stderr at most twice a second, so stdout stays clean for --json.
      onProgress: (event) => {
        const now = Date.now();
        if (values.json || now - lastProgress < 500) return;
        lastProgress = now;
        (out.progress ?? out.stderr)(progressLine(event));
      },
    });
    out.stdout(values.json ? JSON.stringify(manifest, null, 2) : formatManifest(manifest));
    return 0;
  } catch (error) {
    throw forDisplay(error, values.json);
  } finally {
    untrap();
  }
}
