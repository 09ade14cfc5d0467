import { existsSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import type { HostTensor } from "@a2v/tensor-webgpu";

// The golden sets live beside the repository: <repo>/../shared/golden.
const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "../../../..");
export const GOLDEN_DIR = resolve(repoRoot, "../shared/golden");

/** The set's folder, or undefined (with a message) when the golden tree is absent. */
export function goldenSet(name: string): string | undefined {
  const dir = join(GOLDEN_DIR, name);
  if (!existsSync(join(dir, "config.json"))) {
    console.warn(`golden set ${dir} not found: skipping its parity tests`);
    return undefined;
  }
  return dir;
}

export function readConfig(dir: string): Record<string, unknown> {
  return JSON.parse(readFileSync(join(dir, "config.json"), "utf8")) as Record<string, unknown>;
}

export { openWeightFile as openWeights, readTensorFile as readTensors } from "../../src/vae/component-weights.js";

export function tensor(map: Map<string, HostTensor>, key: string): HostTensor {
  const t = map.get(key);
  if (!t) throw new Error(`golden tensor ${key} missing`);
  return t;
}

/** Largest |a - b| / (1 + |b|): the golden README's "max abs error ≤ tol × (1 + |reference|)". */
export function maxRelErr(actual: HostTensor, expected: HostTensor): number {
  if (String(actual.shape) !== String(expected.shape)) {
    throw new Error(`shape [${actual.shape}] differs from expected [${expected.shape}]`);
  }
  let worst = 0;
  for (let i = 0; i < expected.data.length; i++) {
    const e = expected.data[i]!;
    const d = Math.abs(actual.data[i]! - e) / (1 + Math.abs(e));
    if (!(d <= worst)) worst = Number.isNaN(d) ? Number.POSITIVE_INFINITY : d;
  }
  return worst;
}

export function maxAbsErr(actual: HostTensor, expected: HostTensor): number {
  if (String(actual.shape) !== String(expected.shape)) {
    throw new Error(`shape [${actual.shape}] differs from expected [${expected.shape}]`);
  }
  let worst = 0;
  for (let i = 0; i < expected.data.length; i++) {
    const d = Math.abs(actual.data[i]! - expected.data[i]!);
    if (!(d <= worst)) worst = Number.isNaN(d) ? Number.POSITIVE_INFINITY : d;
  }
  return worst;
}
