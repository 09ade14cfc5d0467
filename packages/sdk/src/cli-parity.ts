import { parseArgs } from "node:util";
import { A2VError } from "@a2v/errors";
import type { CliOut } from "./cli-io.js";
import { formatParity, type ParityResult, runParity } from "./parity.js";

export const PARITY_USAGE = "a2v parity <golden-set-dir>... [--gpu] [--json]";

/** `a2v parity`: exit 0 when every set is within its tolerances, 1 when any tensor is not. */
export async function parityCommand(args: string[], out: CliOut): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { gpu: { type: "boolean" }, json: { type: "boolean" } },
  });
  if (positionals.length === 0) throw new A2VError("usage", `no golden set given: ${PARITY_USAGE}`, { status: 400 });
  const results: ParityResult[] = [];
  for (const dir of positionals) {
    if (!values.json) (out.progress ?? out.stderr)(`parity ${dir}`);
    results.push(await runParity(dir, { gpu: values.gpu }));
  }
  out.stdout(values.json ? JSON.stringify(results, null, 2) : results.map(formatParity).join("\n\n"));
  return results.every((r) => r.ok) ? 0 : 1;
}
