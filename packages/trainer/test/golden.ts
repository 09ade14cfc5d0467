import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { SafetensorsFile } from "@a2v/ltx-model/weights";

/** The shared golden sets beside the repository (`../shared/golden`), or undefined when this checkout has none. */
export const GOLDEN_DIR = fileURLToPath(new URL("../../../../shared/golden/", import.meta.url));

export function goldenSet(name: string): string | undefined {
  const dir = `${GOLDEN_DIR}${name}`;
  if (existsSync(dir)) return dir;
  console.warn(`golden set ${dir} is absent: its parity tests are skipped`);
  return undefined;
}

/** Reads every tensor of a golden file as float32. */
export async function readGolden(file: string): Promise<Map<string, Float32Array>> {
  const st = await SafetensorsFile.open(file);
  try {
    const out = new Map<string, Float32Array>();
    for (const key of st.keys()) out.set(key, await st.readFloat32(key));
    return out;
  } finally {
    await st.close();
  }
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new RangeError(`length ${a.length} != ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}
