import { A2VError } from "@a2v/errors";
import { f8e4m3ToF32, f8e5m2ToF32, f16ToF32, f32ToBf16, f32ToF16 } from "@a2v/tensor-webgpu";

/**
 * Element formats a safetensors file may hold, and the byte layouts of their conversions to and from float32.
 * The numeric codecs are tensor-webgpu's (`dtype.ts`): bf16/f16 widen losslessly, narrowing rounds to nearest even.
 */

export type SafetensorsDType =
  | "F64"
  | "F32"
  | "F16"
  | "BF16"
  | "F8_E4M3"
  | "F8_E5M2"
  | "I64"
  | "I32"
  | "I16"
  | "I8"
  | "U8"
  | "BOOL";

export const DTYPE_BYTES: Record<SafetensorsDType, number> = {
  F64: 8,
  F32: 4,
  F16: 2,
  BF16: 2,
  F8_E4M3: 1,
  F8_E5M2: 1,
  I64: 8,
  I32: 4,
  I16: 2,
  I8: 1,
  U8: 1,
  BOOL: 1,
};

export const FLOAT_DTYPES: ReadonlySet<SafetensorsDType> = new Set(["F64", "F32", "F16", "BF16", "F8_E4M3", "F8_E5M2"]);

export function isSafetensorsDType(value: string): value is SafetensorsDType {
  return Object.hasOwn(DTYPE_BYTES, value);
}

function lookupTable(decode: (bits: number) => number, size: number): Float32Array {
  const table = new Float32Array(size);
  for (let i = 0; i < size; i++) table[i] = decode(i);
  return table;
}

let e4m3Table: Float32Array | undefined;
let e5m2Table: Float32Array | undefined;
let f16Table: Float32Array | undefined;

/** Decodes raw little-endian bytes of a floating dtype into float32 values. */
export function decodeToFloat32(bytes: Uint8Array, dtype: SafetensorsDType): Float32Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = bytes.byteLength / DTYPE_BYTES[dtype];
  const out = new Float32Array(n);
  switch (dtype) {
    case "F32":
      for (let i = 0; i < n; i++) out[i] = view.getFloat32(i * 4, true);
      return out;
    case "F64":
      for (let i = 0; i < n; i++) out[i] = view.getFloat64(i * 8, true);
      return out;
    case "BF16": {
      const u32 = new Uint32Array(out.buffer);
      for (let i = 0; i < n; i++) u32[i] = view.getUint16(i * 2, true) << 16;
      return out;
    }
    case "F16": {
      f16Table ??= lookupTable(f16ToF32, 65536);
      for (let i = 0; i < n; i++) out[i] = f16Table[view.getUint16(i * 2, true)]!;
      return out;
    }
    case "F8_E4M3": {
      e4m3Table ??= lookupTable(f8e4m3ToF32, 256);
      for (let i = 0; i < n; i++) out[i] = e4m3Table[bytes[i]!]!;
      return out;
    }
    case "F8_E5M2": {
      e5m2Table ??= lookupTable(f8e5m2ToF32, 256);
      for (let i = 0; i < n; i++) out[i] = e5m2Table[bytes[i]!]!;
      return out;
    }
    default:
      throw new A2VError("dtype_not_float", `decodeToFloat32: ${dtype} is not a floating-point dtype`);
  }
}

/** Encodes float values into little-endian bytes of F32, F16 or BF16. */
export function encodeFloats(values: ArrayLike<number>, dtype: "F32" | "F16" | "BF16"): Uint8Array {
  const n = values.length;
  const out = new Uint8Array(n * DTYPE_BYTES[dtype]);
  const view = new DataView(out.buffer);
  if (dtype === "F32") for (let i = 0; i < n; i++) view.setFloat32(i * 4, values[i]!, true);
  else if (dtype === "BF16") for (let i = 0; i < n; i++) view.setUint16(i * 2, f32ToBf16(values[i]!), true);
  else for (let i = 0; i < n; i++) view.setUint16(i * 2, f32ToF16(values[i]!), true);
  return out;
}
