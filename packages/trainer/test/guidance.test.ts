import { describe, expect, it } from "vitest";
import { eulerStep, guide, stdAll, x0FromVelocity } from "../src/index.js";

describe("guide", () => {
  const pos = Float32Array.from([1, 2, 3, 4]);
  const neg = Float32Array.from([0, 2, 2, 5]);
  it("is the identity with every guidance off", () => {
    expect(guide({ pos }, { cfg: 1, stg: 0, modality: 1, rescale: 0 }).guided).toEqual(pos);
  });
  it("applies CFG and rescales to the positive prediction's spread", () => {
    const r = guide({ pos, neg }, { cfg: 3, stg: 0, modality: 1, rescale: 1 });
    expect(Array.from(r.unrescaled)).toEqual([3, 2, 5, 2]);
    expect(stdAll(r.guided)).toBeCloseTo(stdAll(pos), 5);
  });
  it("names the missing prediction a scale needs", () => {
    expect(() => guide({ pos }, { cfg: 3, stg: 0, modality: 1, rescale: 0 })).toThrow(/"neg"/);
    expect(() => guide({ pos }, { cfg: 3, stg: 0, modality: 1, rescale: 0 })).toThrow(
      expect.objectContaining({ code: "guidance_prediction_missing" }),
    );
    expect(() => guide({ pos }, { cfg: 1, stg: 1, modality: 1, rescale: 0 })).toThrow(/"stg"/);
  });
});

describe("eulerStep", () => {
  it("lands on x0 when stepping to sigma 0", () => {
    const xt = Float32Array.from([0.5, -1]);
    const x0 = Float32Array.from([0.25, 0.75]);
    expect(Array.from(eulerStep(xt, x0, 0.5, 0))).toEqual([0.25, 0.75]);
  });
});

describe("x0FromVelocity", () => {
  it("subtracts the velocity scaled by each token's own timestep", () => {
    const xt = Float32Array.from([1, 1, 2, 2]);
    const v = Float32Array.from([0.5, -0.5, 1, 2]);
    const timesteps = Float32Array.from([0, 0.5]);
    expect(Array.from(x0FromVelocity(xt, v, timesteps, 2))).toEqual([1, 1, 1.5, 1]);
  });
});
