import { A2VError } from "@a2v/errors";

/** Element types. bf16 is packed storage (two per u32 word) decoded in-shader; f16 needs `shader-f16`. */
export type DType = "f32" | "f16" | "bf16" | "i32" | "u32";

export const BYTES: Record<DType, number> = { f32: 4, f16: 2, bf16: 2, i32: 4, u32: 4 };

export function isFloat(dtype: DType): boolean {
  return dtype === "f32" || dtype === "f16" || dtype === "bf16";
}

/** Host array a dtype downloads to (f16 and bf16 are decoded to f32). */
export type HostArray = Float32Array | Int32Array | Uint32Array;

/** Rounds an f32 to bf16 bits with round-to-nearest-even (NaN stays a quiet NaN). */
export function f32ToBf16Bits(values: ArrayLike<number>): Uint16Array {
  const f = new Float32Array(values.length);
  for (let i = 0; i < f.length; i++) f[i] = values[i]!;
  const u = new Uint32Array(f.buffer);
  const out = new Uint16Array(f.length);
  for (let i = 0; i < u.length; i++) {
    const x = u[i]!;
    if ((x & 0x7f800000) === 0x7f800000 && (x & 0x7fffff) !== 0) out[i] = (x >>> 16) | 0x40;
    else out[i] = ((x + 0x7fff + ((x >>> 16) & 1)) >>> 16) & 0xffff;
  }
  return out;
}

export function bf16BitsToF32(bits: Uint16Array): Float32Array {
  const u = new Uint32Array(bits.length);
  for (let i = 0; i < bits.length; i++) u[i] = bits[i]! << 16;
  return new Float32Array(u.buffer);
}

/** IEEE half bits from f32 (round-to-nearest-even, overflow to inf). */
export function f32ToF16Bits(values: ArrayLike<number>): Uint16Array {
  const out = new Uint16Array(values.length);
  const f = new Float32Array(1);
  const u = new Uint32Array(f.buffer);
  for (let i = 0; i < values.length; i++) {
    f[0] = values[i]!;
    const x = u[0]!;
    const sign = (x >>> 16) & 0x8000;
    const exp = (x >>> 23) & 0xff;
    let mant = x & 0x7fffff;
    if (exp === 0xff) {
      out[i] = sign | 0x7c00 | (mant ? 0x200 : 0);
      continue;
    }
    let e = exp - 127 + 15;
    if (e >= 0x1f) {
      out[i] = sign | 0x7c00;
      continue;
    }
    if (e <= 0) {
      if (e < -10) {
        out[i] = sign;
        continue;
      }
      mant |= 0x800000;
      const shift = 14 - e;
      let h = mant >>> shift;
      const rem = mant & ((1 << shift) - 1);
      const half = 1 << (shift - 1);
      if (rem > half || (rem === half && h & 1)) h++;
      out[i] = sign | h;
      continue;
    }
    let h = (e << 10) | (mant >>> 13);
    const rem = mant & 0x1fff;
    if (rem > 0x1000 || (rem === 0x1000 && h & 1)) h++;
    e = h;
    out[i] = sign | e;
  }
  return out;
}

export function f16BitsToF32(bits: Uint16Array): Float32Array {
  const out = new Float32Array(bits.length);
  for (let i = 0; i < bits.length; i++) {
    const h = bits[i]!;
    const s = h & 0x8000 ? -1 : 1;
    const e = (h >>> 10) & 0x1f;
    const m = h & 0x3ff;
    if (e === 0) out[i] = s * m * 2 ** -24;
    else if (e === 0x1f) out[i] = m ? Number.NaN : s * Number.POSITIVE_INFINITY;
    else out[i] = s * (1 + m / 1024) * 2 ** (e - 15);
  }
  return out;
}

export function checkDType(dtype: string): DType {
  if (dtype in BYTES) return dtype as DType;
  throw new A2VError("bad_dtype", `Unknown dtype "${dtype}" (expected f32, f16, bf16, i32 or u32)`, { status: 422 });
}
