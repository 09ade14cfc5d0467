import { parseArgs } from "node:util";
import { A2VError } from "@a2v/errors";
import type { CliOut } from "./cli-io.js";
import { formatParity, type ParityResult, runParity } from "./parity.js";

export const PARITY_USAGE = "a2v parity <golden-set-dir>... [--device cpu|gpu] [--json]";

/** `a2v parity`: exit 0 when every set is within its tolerances, 1 when any tensor is not. */
export async function parityCommand(args: string[], out: CliOut): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { device: { type: "string", default: "cpu" }, gpu: { type: "boolean" }, json: { type: "boolean" } },
  });
  // `--gpu` is the older spelling of `--device gpu`.
  const device = values.gpu ? "gpu" : values.device;
  if (device !== "cpu" && device !== "gpu") {
    throw new A2VError("usage", `--device must be cpu or gpu, not ${device}: ${PARITY_USAGE}`, { status: 400 });
  }
  if (positionals.length === 0) throw new A2VError("usage", `no golden set given: ${PARITY_USAGE}`, { status: 400 });
  const results: ParityResult[] = [];
  for (const dir of positionals) {
    if (!values.json) (out.progress ?? out.stderr)(`parity ${dir}`);
    results.push(await runParity(dir, { device }));
  }
  out.stdout(values.json ? JSON.stringify(results, null, 2) : results.map(formatParity).join("\n\n"));
  return results.every((r) => r.ok) ? 0 : 1;
}
