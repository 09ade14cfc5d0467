import { A2VError } from "@a2v/errors";
/**
 * Element formats a safetensors file may hold, and their conversions to and from float32.
 * Conversions are bit-exact: bf16/f16 widen losslessly, narrowing rounds to nearest even.
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

const f32Scratch = new Float32Array(1);
const u32Scratch = new Uint32Array(f32Scratch.buffer);

export function bf16BitsToF32(bits: number): number {
  u32Scratch[0] = bits << 16;
  return f32Scratch[0]!;
}

/** Round-to-nearest-even float32 → bfloat16 bits (NaN stays NaN). */
export function f32ToBf16Bits(value: number): number {
  f32Scratch[0] = value;
  const u = u32Scratch[0]!;
  if ((u & 0x7f800000) === 0x7f800000 && (u & 0x007fffff) !== 0) return ((u >>> 16) | 0x0040) & 0xffff;
  const rounded = u + 0x7fff + ((u >>> 16) & 1);
  return (rounded >>> 16) & 0xffff;
}

export function f16BitsToF32(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exp = (bits >> 10) & 0x1f;
  const frac = bits & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 0x1f) return frac === 0 ? sign * Number.POSITIVE_INFINITY : Number.NaN;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

/** Round-to-nearest-even float → IEEE half bits. */
export function f32ToF16Bits(value: number): number {
  if (Number.isNaN(value)) return 0x7e00;
  const sign = value < 0 || Object.is(value, -0) ? 0x8000 : 0;
  const a = Math.abs(value);
  if (a >= 65520) return sign | 0x7c00;
  if (a < 2 ** -24 / 2) return sign;
  if (a < 2 ** -14) {
    // Subnormal: units of 2^-24.
    return sign | roundHalfEven(a * 2 ** 24);
  }
  let exp = Math.floor(Math.log2(a));
  if (2 ** exp > a) exp -= 1;
  if (2 ** (exp + 1) <= a) exp += 1;
  let mant = roundHalfEven((a / 2 ** exp - 1) * 1024);
  if (mant === 1024) {
    mant = 0;
    exp += 1;
  }
  if (exp > 15) return sign | 0x7c00;
  return sign | ((exp + 15) << 10) | mant;
}

function roundHalfEven(x: number): number {
  const f = Math.floor(x);
  const d = x - f;
  if (d > 0.5) return f + 1;
  if (d < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

/** float8 e4m3fn (bias 7, no infinities, 0x7f/0xff = NaN, max 448). */
export function f8e4m3ToF32(bits: number): number {
  const sign = bits & 0x80 ? -1 : 1;
  const exp = (bits >> 3) & 0xf;
  const frac = bits & 0x7;
  if (exp === 0xf && frac === 0x7) return Number.NaN;
  if (exp === 0) return sign * frac * 2 ** -9;
  return sign * (1 + frac / 8) * 2 ** (exp - 7);
}

/** float8 e5m2 (bias 15, IEEE-like with infinities). */
export function f8e5m2ToF32(bits: number): number {
  const sign = bits & 0x80 ? -1 : 1;
  const exp = (bits >> 2) & 0x1f;
  const frac = bits & 0x3;
  if (exp === 0x1f) return frac === 0 ? sign * Number.POSITIVE_INFINITY : Number.NaN;
  if (exp === 0) return sign * frac * 2 ** -16;
  return sign * (1 + frac / 4) * 2 ** (exp - 15);
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
      f16Table ??= lookupTable(f16BitsToF32, 65536);
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
  else if (dtype === "BF16") for (let i = 0; i < n; i++) view.setUint16(i * 2, f32ToBf16Bits(values[i]!), true);
  else for (let i = 0; i < n; i++) view.setUint16(i * 2, f32ToF16Bits(values[i]!), true);
  return out;
}
