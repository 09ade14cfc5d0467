import { A2VError } from "@a2v/errors";

/** Element types. bf16 is packed storage (two per u32 word) decoded in-shader; f16 needs `shader-f16`. */
export type DType = "f32" | "f16" | "bf16" | "i32" | "u32";

export const BYTES: Record<DType, number> = { f32: 4, f16: 2, bf16: 2, i32: 4, u32: 4 };

export function isFloat(dtype: DType): boolean {
  return dtype === "f32" || dtype === "f16" || dtype === "bf16";
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
  throw new A2VError("bad_dtype", `Unknown dtype "${dtype}" (expected f32, f16, bf16, i32 or u32)`, { status: 422 });
}
