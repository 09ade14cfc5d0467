import { describe, expect, it } from "vitest";
import {
  bf16BitsToF32,
  bf16ToF32,
  f8e4m3ToF32,
  f8e5m2ToF32,
  f16BitsToF32,
  f16ToF32,
  f32ToBf16,
  f32ToBf16Bits,
  f32ToF16,
  f32ToF16Bits,
} from "../src/dtype.js";

describe("dtype codecs", () => {
  it("round-trips bf16 and rounds to nearest even", () => {
    const bf = (v: number) => bf16ToF32(f32ToBf16(v));
    expect(bf(1.5)).toBe(1.5);
    expect(bf(-3.140625)).toBe(-3.140625);
    // 1 + 2^-8 is exactly halfway between bf16 1 and 1 + 2^-7: ties to even (1).
    expect(bf(1 + 2 ** -8)).toBe(1);
    expect(bf(1 + 3 * 2 ** -8)).toBe(1 + 2 ** -6);
    expect(Number.isNaN(bf(Number.NaN))).toBe(true);
    expect(bf(Number.NEGATIVE_INFINITY)).toBe(Number.NEGATIVE_INFINITY);
  });

  it("round-trips f16 including subnormals and overflow", () => {
    const h = (v: number) => f16ToF32(f32ToF16(v));
    // Exactly representable values survive; others land within half a unit in the last place.
    for (const v of [0, 1, -2.5, 65504, 2 ** -24, 3 * 2 ** -20]) expect(h(v)).toBe(v);
    expect(Math.abs(h(0.1) - 0.1)).toBeLessThanOrEqual(2 ** -15);
    expect(Math.abs(h(6.1e-5) - 6.1e-5)).toBeLessThanOrEqual(2 ** -25);
    expect(h(2 ** -25)).toBe(0); // halfway to the smallest subnormal: ties to even
    expect(h(1.5 * 2 ** -25)).toBe(2 ** -24);
    expect(f32ToF16(1e6)).toBe(0x7c00);
    expect(f32ToF16(65520)).toBe(0x7c00); // rounds up past the largest finite
    expect(Number.isNaN(h(Number.NaN))).toBe(true);
    expect(f16ToF32(0x3c00)).toBe(1);
    expect(f16ToF32(0xc000)).toBe(-2);
  });

  it("decodes float8 e4m3fn and e5m2", () => {
    expect(f8e4m3ToF32(0x38)).toBe(1); // exp 7, mant 0
    expect(f8e4m3ToF32(0x7e)).toBe(448); // largest finite
    expect(Number.isNaN(f8e4m3ToF32(0x7f))).toBe(true);
    expect(f8e4m3ToF32(0x01)).toBe(2 ** -9); // smallest subnormal
    expect(f8e4m3ToF32(0xb8)).toBe(-1);
    expect(f8e5m2ToF32(0x3c)).toBe(1);
    expect(f8e5m2ToF32(0x7b)).toBe(57344);
    expect(f8e5m2ToF32(0x7c)).toBe(Number.POSITIVE_INFINITY);
  });

  it("maps whole arrays with the same codecs", () => {
    const values = [0, 1, -2.5, 0.1, 1 + 2 ** -8, 70000];
    expect(Array.from(f32ToBf16Bits(values))).toEqual(values.map(f32ToBf16));
    expect(Array.from(f32ToF16Bits(values))).toEqual(values.map(f32ToF16));
    const bits = [0x3c00, 0xc000, 0x0001, 0x7c00];
    expect(Array.from(f16BitsToF32(bits))).toEqual(bits.map(f16ToF32));
    expect(Array.from(bf16BitsToF32([0x3f80, 0xc020]))).toEqual([1, -2.5]);
  });
});
