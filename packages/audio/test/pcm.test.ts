import { describe, expect, it } from "vitest";
import { frameCount, fromDbfs, mixToMono, peakOf, toDbfs } from "../src/index.js";

describe("PCM helpers", () => {
  it("frameCount checks that the channels agree", () => {
    expect(frameCount([])).toBe(0);
    expect(frameCount([new Float32Array(5), new Float32Array(5)])).toBe(5);
    expect(() => frameCount([new Float32Array(5), new Float32Array(4)])).toThrow(/equal lengths/);
  });

  it("peakOf spans all channels and surfaces NaN", () => {
    expect(peakOf([Float32Array.of(0.1, -0.7), Float32Array.of(0.5, 0)])).toBeCloseTo(0.7, 6);
    expect(peakOf([Float32Array.of(0.1, Number.NaN, 0.9)])).toBeNaN();
    expect(peakOf([])).toBe(0);
  });

  it("converts between dBFS and amplitude", () => {
    expect(toDbfs(1)).toBe(0);
    expect(toDbfs(0)).toBe(Number.NEGATIVE_INFINITY);
    expect(toDbfs(fromDbfs(-1))).toBeCloseTo(-1, 12);
    expect(fromDbfs(-6.0206)).toBeCloseTo(0.5, 4);
  });

  it("mixToMono averages the channels", () => {
    expect(mixToMono([Float32Array.of(1, 0.5), Float32Array.of(0, -0.5)])).toEqual(Float32Array.of(0.5, 0));
    expect(mixToMono([])).toEqual(new Float32Array(0));
  });
});
