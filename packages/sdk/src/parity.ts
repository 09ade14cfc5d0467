import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { A2VError } from "@a2v/errors";
import { goldenParity, VAE_AND_TEXT_PARITY_KINDS } from "@a2v/ltx-model/parity";
import type { Device } from "@a2v/tensor-webgpu";
import { runScheduleParity, runTransformerParity, TRANSFORMER_PARITY_KINDS } from "@a2v/trainer";

/**
 * One compared tensor: its max absolute and relative L2 error, and `error`, the golden README's metric for it
 * (`metric`), which `tolerance` bounds.
 */
export interface ParityLine {
  name: string;
  maxAbsError: number;
  relativeError: number;
  metric: "max_abs" | "max_scaled_abs" | "relative_l2";
  error: number;
  tolerance: number;
  ok: boolean;
}

export interface ParityResult {
  kind: string;
  dir: string;
  checks: ParityLine[];
  ok: boolean;
}

export const PARITY_KINDS = [...TRANSFORMER_PARITY_KINDS, ...VAE_AND_TEXT_PARITY_KINDS, "schedules"] as const;

/**
 * Runs one golden set (a folder with config.json, weights and tensors.safetensors) against this implementation,
 * whichever component its `kind` names, with the tolerances of its README.
 */
export async function runParity(dir: string, options: { device?: Device } = {}): Promise<ParityResult> {
  let kind: string;
  try {
    kind = String(JSON.parse(await readFile(join(dir, "config.json"), "utf8")).kind);
  } catch (cause) {
    throw new A2VError("golden_invalid", `${dir}: not a golden set (unreadable config.json)`, { status: 422, cause });
  }
  if ((TRANSFORMER_PARITY_KINDS as readonly string[]).includes(kind)) {
    const r = await runTransformerParity(dir, { device: options.device });
    const checks = r.rows.map((row) => ({
      name: row.name,
      maxAbsError: row.maxAbsError,
      relativeError: row.relativeError,
      metric: row.metric,
      error: row.error,
      tolerance: row.tolerance,
      ok: row.pass,
    }));
    return { kind, dir, checks, ok: r.pass };
  }
  if ((VAE_AND_TEXT_PARITY_KINDS as readonly string[]).includes(kind) || kind === "schedules") {
    const r = kind === "schedules" ? await runScheduleParity(dir) : await goldenParity(dir, { device: options.device });
    const checks = r.checks.map((c) => ({ ...c, metric: "max_abs" as const, error: c.maxAbsError }));
    return { kind, dir, checks, ok: r.ok };
  }
  throw new A2VError("golden_kind_unsupported", `${dir}: kind "${kind}" is not one of ${PARITY_KINDS.join(", ")}`, {
    status: 422,
  });
}

export function formatParity(result: ParityResult): string {
  const lines = [`${result.kind}  ${result.dir}`];
  const width = Math.max(...result.checks.map((c) => c.name.length), 10);
  const e = (x: number) => x.toExponential(2);
  for (const c of result.checks) {
    lines.push(
      `  ${c.ok ? "ok  " : "FAIL"} ${c.name.padEnd(width)}  max abs ${e(c.maxAbsError)}  rel ${e(c.relativeError)}  ` +
        `${c.metric} ${e(c.error)} <= ${c.tolerance.toExponential(0)}`,
    );
  }
  lines.push(
    `  ${result.ok ? "PASS" : "FAIL"}: ${result.checks.filter((c) => c.ok).length}/${result.checks.length} within tolerance`,
  );
  return lines.join("\n");
}
