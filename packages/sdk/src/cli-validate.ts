import { parseArgs } from "node:util";
import { type DatasetProgress, formatManifest, loadDataset } from "@a2v/dataset";
import { A2VError } from "@a2v/errors";

import type { CliOut as Out } from "./cli-io.js";

export const VALIDATE_USAGE =
  "a2v validate <zip|url> [--trigger-phrase P] [--number-of-frames N] [--auto-scale-input] [--allow-private-network] [--json]";

function progressLine(event: DatasetProgress): string {
  if (event.phase === "download") {
    const mib = (n: number) => `${(n / 2 ** 20).toFixed(1)} MiB`;
    return `download ${mib(event.bytes)}${event.totalBytes ? ` / ${mib(event.totalBytes)}` : ""}`;
  }
  return `${event.phase} ${event.done}/${event.total} ${event.file}`;
}

/** `a2v validate`: the service's dataset checks; exit 0 when valid, 3 when rejected (422). */
export async function validateCommand(args: string[], out: Out): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      "trigger-phrase": { type: "string" },
      "number-of-frames": { type: "string" },
      "auto-scale-input": { type: "boolean" },
      "allow-private-network": { type: "boolean" },
      json: { type: "boolean" },
    },
  });
  const source = positionals[0];
  if (!source) throw new A2VError("usage", `missing the archive: ${VALIDATE_USAGE}`, { status: 400 });
  const frames = values["number-of-frames"];
  if (frames !== undefined && !/^\d+$/.test(frames)) {
    throw new A2VError("invalid_input", `--number-of-frames must be an integer, got "${frames}"`, {
      status: 422,
      details: [{ code: "invalid_type", path: ["number_of_frames"], message: `not an integer: ${frames}` }],
    });
  }
  let lastProgress = 0;
  const manifest = await loadDataset(source, {
    triggerPhrase: values["trigger-phrase"],
    numberOfFrames: frames === undefined ? undefined : Number(frames),
    autoScaleInput: values["auto-scale-input"],
    allowPrivateNetwork: values["allow-private-network"],
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
}
