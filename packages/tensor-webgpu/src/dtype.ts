import { A2VError } from "@a2v/errors";

/**
 * Element types. bf16 is packed storage (two per u32 word) decoded in-shader; f16 needs `shader-f16`.
 * The quantized weight codes i8 (signed int8, value = code) and f8e4m3 (float8 e4m3fn: max 448, no infinities)
 * are packed four per u32 word (element i in byte i & 3 of word i >> 2) and decoded to f32 by every kernel's loader;
 * kernels never write them (see `isQuantized`).
 */
export type DType = "f32" | "f16" | "bf16" | "i32" | "u32" | "i8" | "f8e4m3";

export const BYTES: Record<DType, number> = { f32: 4, f16: 2, bf16: 2, i32: 4, u32: 4, i8: 1, f8e4m3: 1 };

export function isFloat(dtype: DType): boolean {
  return dtype === "f32" || dtype === "f16" || dtype === "bf16" || dtype === "f8e4m3";
}

/** The 1-byte weight-code dtypes: kernels read them (decoded to f32) but never produce them. */
export function isQuantized(dtype: DType): dtype is "i8" | "f8e4m3" {
  return dtype === "i8" || dtype === "f8e4m3";
}

/** Host array a dtype downloads to (f16 and bf16 are decoded to f32). */
export type HostArray = Float32Array | Int32Array | Uint32Array;

// The numeric codecs of the repo, once: one value each (the primitives), and whole arrays built on them.
// Narrowing rounds to nearest even; NaN stays a quiet NaN; f16 overflows to infinity.

const f32Scratch = new Float32Array(1);
const u32Scratch = new Uint32Array(f32Scratch.buffer);

/** bf16 bits of `value` (rounded to f32 first, then to bf16). */
export function f32ToBf16(value: number): number {
  f32Scratch[0] = value;
  const x = u32Scratch[0]!;
  if ((x & 0x7f800000) === 0x7f800000 && (x & 0x7fffff) !== 0) return ((x >>> 16) | 0x40) & 0xffff;
  return ((x + 0x7fff + ((x >>> 16) & 1)) >>> 16) & 0xffff;
}

/** The value of bf16 bits. */
export function bf16ToF32(bits: number): number {
  u32Scratch[0] = bits << 16;
  return f32Scratch[0]!;
}

/** IEEE half bits of `value` (rounded to f32 first, then to f16). */
export function f32ToF16(value: number): number {
  f32Scratch[0] = value;
  const x = u32Scratch[0]!;
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let h = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const half = 1 << (shift - 1);
    if (rem > half || (rem === half && h & 1)) h++;
    return sign | h;
  }
  let h = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && h & 1)) h++; // a carry into the exponent rounds up to the next power (or inf)
  return sign | h;
}

/** The value of IEEE half bits. */
export function f16ToF32(bits: number): number {
  const s = bits & 0x8000 ? -1 : 1;
  const e = (bits >>> 10) & 0x1f;
  const m = bits & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 0x1f) return m ? Number.NaN : s * Number.POSITIVE_INFINITY;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

/** The value of float8 e4m3fn bits (bias 7, no infinities, 0x7f/0xff = NaN, max 448). */
export function f8e4m3ToF32(bits: number): number {
  const s = bits & 0x80 ? -1 : 1;
  const e = (bits >> 3) & 0xf;
  const m = bits & 0x7;
  if (e === 0xf && m === 0x7) return Number.NaN;
  if (e === 0) return s * m * 2 ** -9;
  return s * (1 + m / 8) * 2 ** (e - 7);
}

/** The code nearest to `value` in float8 e4m3fn (round to nearest even; beyond ±448, infinities too, saturate to ±448; NaN → 0x7f). */
export function f32ToF8e4m3(value: number): number {
  if (Number.isNaN(value)) return 0x7f;
  const sign = value < 0 || Object.is(value, -0) ? 0x80 : 0;
  const a = Math.abs(value);
  if (a >= 448) return sign | 0x7e;
  if (a < 2 ** -6) return sign | roundEven(a * 2 ** 9); // subnormal (8 rounds up to the smallest normal, 0x08)
  let e = Math.floor(Math.log2(a));
  if (2 ** e > a) e--;
  else if (2 ** (e + 1) <= a) e++;
  let q = roundEven(a * 2 ** (3 - e)); // 8..16
  if (q === 16) {
    e++;
    q = 8;
  }
  const code = ((e + 7) << 3) | (q - 8);
  return sign | Math.min(code, 0x7e);
}

/** Nearest integer, ties to even. */
export function roundEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** The int8 code of `value`: rounded (ties to even), clamped to [-127, 127]. */
export function f32ToI8(value: number): number {
  if (Number.isNaN(value)) return 0;
  return Math.max(-127, Math.min(127, roundEven(value))) + 0; // + 0: no negative zero
}

const F8E4M3_TABLE = Float32Array.from({ length: 256 }, (_, c) => f8e4m3ToF32(c));

/** The values of float8 e4m3fn codes. */
export function f8e4m3BitsToF32(codes: ArrayLike<number>): Float32Array {
  const out = new Float32Array(codes.length);
  for (let i = 0; i < out.length; i++) out[i] = F8E4M3_TABLE[codes[i]! & 0xff]!;
  return out;
}

/** float8 e4m3fn codes of every value. */
export function f32ToF8e4m3Bits(values: ArrayLike<number>): Uint8Array {
  const out = new Uint8Array(values.length);
  for (let i = 0; i < out.length; i++) out[i] = f32ToF8e4m3(values[i]!);
  return out;
}

/** The value of float8 e5m2 bits (bias 15, IEEE-like with infinities). */
export function f8e5m2ToF32(bits: number): number {
  const s = bits & 0x80 ? -1 : 1;
  const e = (bits >> 2) & 0x1f;
  const m = bits & 0x3;
  if (e === 0x1f) return m === 0 ? s * Number.POSITIVE_INFINITY : Number.NaN;
  if (e === 0) return s * m * 2 ** -16;
  return s * (1 + m / 4) * 2 ** (e - 15);
}

/** bf16 bits of every value. */
export function f32ToBf16Bits(values: ArrayLike<number>): Uint16Array {
  const out = new Uint16Array(values.length);
  for (let i = 0; i < out.length; i++) out[i] = f32ToBf16(values[i]!);
  return out;
}

export function bf16BitsToF32(bits: ArrayLike<number>): Float32Array {
  const u = new Uint32Array(bits.length);
  for (let i = 0; i < u.length; i++) u[i] = bits[i]! << 16;
  return new Float32Array(u.buffer);
}

/** IEEE half bits of every value. */
export function f32ToF16Bits(values: ArrayLike<number>): Uint16Array {
  const out = new Uint16Array(values.length);
  for (let i = 0; i < out.length; i++) out[i] = f32ToF16(values[i]!);
  return out;
}

export function f16BitsToF32(bits: ArrayLike<number>): Float32Array {
  const out = new Float32Array(bits.length);
  for (let i = 0; i < out.length; i++) out[i] = f16ToF32(bits[i]!);
  return out;
}

export function checkDType(dtype: string): DType {
  if (dtype in BYTES) return dtype as DType;
  throw new A2VError("bad_dtype", `Unknown dtype "${dtype}" (expected f32, f16, bf16, i32, u32, i8 or f8e4m3)`, {
    status: 422,
  });
}
