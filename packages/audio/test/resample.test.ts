import { describe, expect, it } from "vitest";
import { peakOf, resample } from "../src/index.js";
import { sine } from "./helpers/media.js";
import { dominantFrequency } from "./helpers/pitch.js";

/** RMS of the middle half, away from the filter's edge transients. */
function rms(x: Float32Array): number {
  const mid = x.subarray(x.length >> 2, x.length - (x.length >> 2));
  let sum = 0;
  for (const v of mid) sum += v * v;
  return Math.sqrt(sum / mid.length);
}

describe("resample", () => {
  it("keeps in-band tones (level within 0.05 dB, same frequency) and returns ceil(n·to/from) samples", () => {
    for (const [from, to] of [
      [48_000, 16_000],
      [44_100, 16_000],
      [16_000, 48_000],
      [22_050, 44_100],
      [48_000, 44_100],
    ] as const) {
      const tone = sine(1000, 0.5, from, 0.5);
      const [out] = resample([tone], from, to);
      expect(out!.length).toBe(Math.ceil((tone.length * to) / from));
      expect(Math.abs(20 * Math.log10(rms(out!) / rms(tone)))).toBeLessThan(0.05);
      expect(dominantFrequency(out!, to, 900, 1100)).toBeCloseTo(1000, 1);
    }
  });

  it("removes what would alias when downsampling (12 kHz into 16 kHz: at least 40 dB down)", () => {
    // torchaudio's filter (6 zero crossings, Hann) is short: its stopband sits around -45 dB.
    const [out] = resample([sine(12_000, 0.5, 48_000, 0.5)], 48_000, 16_000);
    expect(20 * Math.log10(rms(out!) / (0.5 / Math.SQRT2))).toBeLessThan(-40);
    // Plain decimation (every third sample) would fold it to 4 kHz at full level.
    const naive = sine(12_000, 0.5, 48_000, 0.5).filter((_, i) => i % 3 === 0);
    expect(20 * Math.log10(rms(naive) / (0.5 / Math.SQRT2))).toBeGreaterThan(-1);
  });

  it("creates no images when upsampling (content above the old Nyquist at least 40 dB down)", () => {
    const [out] = resample([sine(5000, 0.5, 16_000, 0.5)], 16_000, 48_000);
    // The first image of 5 kHz sampled at 16 kHz sits at 11 kHz.
    const image = dominantFrequency(out!, 48_000, 10_500, 11_500);
    const level = (f: number) => {
      let re = 0;
      let im = 0;
      const x = out!.subarray(12_000, 36_000);
      for (let i = 0; i < x.length; i++) {
        re += x[i]! * Math.cos((2 * Math.PI * f * i) / 48_000);
        im += x[i]! * Math.sin((2 * Math.PI * f * i) / 48_000);
      }
      return Math.hypot(re, im) / x.length;
    };
    expect(20 * Math.log10(level(image) / level(5000))).toBeLessThan(-40);
  });

  it("returns copies for equal rates, handles several channels and rejects non-integer rates", () => {
    const x = sine(440, 0.1, 8000);
    const [same] = resample([x], 8000, 8000);
    expect(same).toEqual(x);
    expect(same).not.toBe(x);
    const stereo = resample([x, x.map((v) => -v)], 8000, 12_000);
    expect(stereo[1]!.every((v, i) => v === -stereo[0]![i]!)).toBe(true);
    expect(peakOf(stereo)).toBeGreaterThan(0.45);
    expect(() => resample([x], 8000.5, 16_000)).toThrow(/positive integer/);
    expect(() => resample([x], 44_101, 48_000)).toThrow(/filter/);
  });
});
