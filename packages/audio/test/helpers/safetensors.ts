import { readFileSync } from "node:fs";

export interface Tensor {
  shape: number[];
  data: Float32Array;
}

/**
 * Minimal safetensors reader for the golden files (float32 only): 8-byte little-endian header length,
 * a JSON header of { name: { dtype, shape, data_offsets } }, then the raw bytes. Test-only; the model
 * package owns the real loader.
 */
export function readSafetensors(file: string): Map<string, Tensor> {
  const bytes = readFileSync(file);
  const headerLength = Number(bytes.readBigUInt64LE(0));
  const header = JSON.parse(bytes.toString("utf8", 8, 8 + headerLength)) as Record<
    string,
    { dtype: string; shape: number[]; data_offsets: [number, number] }
  >;
  const base = 8 + headerLength;
  const tensors = new Map<string, Tensor>();
  for (const [name, entry] of Object.entries(header)) {
    if (name === "__metadata__") continue;
    if (entry.dtype !== "F32") throw new Error(`${file}: ${name} is ${entry.dtype}, only F32 is supported here`);
    const [start, end] = entry.data_offsets;
    // Copy into an aligned buffer: the data section need not start on a 4-byte boundary.
    const data = new Float32Array(new Uint8Array(bytes.subarray(base + start, base + end)).buffer);
    tensors.set(name, { shape: entry.shape, data });
  }
  return tensors;
}
