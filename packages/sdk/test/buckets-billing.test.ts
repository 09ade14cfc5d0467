import { describe, expect, it } from "vitest";
import { ASPECT_RATIOS, billing, failedBill, RESOLUTIONS, resolutionFor } from "../src/index.js";

describe("resolutionFor", () => {
  it("matches the spec's table", () => {
    const table = Object.fromEntries(
      RESOLUTIONS.map((r) => [
        r,
        ASPECT_RATIOS.map((a) => `${resolutionFor(r, a).width}x${resolutionFor(r, a).height}`),
      ]),
    );
    expect(table).toEqual({
      low: ["512x288", "512x512", "288x512"],
      medium: ["768x448", "768x768", "448x768"],
      high: ["960x544", "960x960", "544x960"],
    });
  });

  it("returns sizes divisible by the VAE's 32-pixel stride, as fresh objects", () => {
    for (const r of RESOLUTIONS)
      for (const a of ASPECT_RATIOS) {
        const b = resolutionFor(r, a);
        expect(b.width % 32).toBe(0);
        expect(b.height % 32).toBe(0);
        b.width = 1;
        expect(resolutionFor(r, a).width).not.toBe(1);
      }
    expect(() => resolutionFor("huge" as "low", "1:1")).toThrow(
      expect.objectContaining({ name: "A2VError", code: "unknown_bucket", status: 422 }),
    );
  });
});

describe("billing", () => {
  it("bills max(100, steps) units at $0.006", () => {
    expect(billing({ number_of_steps: 1000 })).toEqual({ units: 1000, usd: 6 });
    expect(billing({ number_of_steps: 2000 })).toEqual({ units: 2000, usd: 12 });
    expect(billing({ number_of_steps: 100 })).toEqual({ units: 100, usd: 0.6 });
    expect(billing({ number_of_steps: 20 })).toEqual({ units: 100, usd: 0.6 });
    expect(billing({ number_of_steps: 20000 })).toEqual({ units: 20000, usd: 120 });
    expect(billing({ number_of_steps: 333 })).toEqual({ units: 333, usd: 1.998 });
  });

  it("a failed run is billed nothing", () => {
    expect(failedBill).toEqual({ units: 0, usd: 0 });
    expect(Object.isFrozen(failedBill)).toBe(true);
  });
});
