import { describe, expect, it } from "vitest";
import { fromDbfs, peakNormalize, peakOf, toDbfs } from "../src/index.js";
import { sine } from "./helpers/media.js";

describe("peakNormalize", () => {
  it("puts the joint peak at -1 dBFS by default, within 0.01 dB, keeping the channel balance", () => {
    const left = sine(440, 0.5, 48_000, 0.2);
    const right = sine(660, 0.5, 48_000, 0.05);
    const result = peakNormalize([left, right]);
    expect(Math.abs(toDbfs(peakOf(result.pcm)) - -1)).toBeLessThan(0.01);
    expect(Math.abs(toDbfs(result.peakAfter) - -1)).toBeLessThan(0.01);
    expect(result.peakBefore).toBeCloseTo(peakOf([left, right]), 7);
    expect(peakOf([result.pcm[1]!]) / peakOf([result.pcm[0]!])).toBeCloseTo(0.25, 5);
    expect(left[100]).toBe(sine(440, 0.5, 48_000, 0.2)[100]); // input untouched
  });

  it("reaches other targets, also attenuating", () => {
    for (const target of [-0.1, -3, -20]) {
      const loud = sine(100, 0.2, 16_000, 0.99);
      const { pcm, gain } = peakNormalize([loud], { targetDbfs: target });
      expect(Math.abs(toDbfs(peakOf(pcm)) - target)).toBeLessThan(0.01);
      expect(gain).toBeCloseTo(fromDbfs(target) / peakOf([loud]), 9);
    }
  });

  it("leaves silence as silence: no division by zero, no NaN", () => {
    for (const quiet of [new Float32Array(1000), Float32Array.from({ length: 1000 }, () => 1e-7)]) {
      const result = peakNormalize([quiet, quiet]);
      expect(result.silent).toBe(true);
      expect(result.gain).toBe(1);
      expect(result.pcm[0]).toEqual(quiet);
      expect(result.pcm.every((c) => c.every(Number.isFinite))).toBe(true);
    }
    expect(peakNormalize([]).pcm).toEqual([]);
  });

  it("rejects positive targets and non-finite input", () => {
    expect(() => peakNormalize([sine(1, 0.1, 1000)], { targetDbfs: 1 })).toThrow(/targetDbfs/);
    expect(() => peakNormalize([Float32Array.of(0.5, Number.NaN)])).toThrow(/NaN/);
  });
});
