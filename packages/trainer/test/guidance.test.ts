import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { eulerStep, guide, stdAll, x0FromVelocity } from "../src/index.js";
import { goldenSet, maxAbsDiff, readGolden } from "./golden.js";

const dir = goldenSet("schedules");

describe.skipIf(!dir)("golden parity: one guided a2v validation step", async () => {
  const t = dir ? await readGolden(`${dir}/tensors.safetensors`) : new Map<string, Float32Array>();
  const config = dir ? JSON.parse(readFileSync(`${dir}/config.json`, "utf8")) : {};
  const v = config.guided_step?.resolved_video_guider;
  const channels = 128;

  it("x0 from each pass's velocity", () => {
    for (const pass of ["pos", "neg", "stg", "mod"]) {
      const x0 = x0FromVelocity(
        t.get("video_tokens_noisy")!,
        t.get(`velocity_${pass}`)!,
        t.get("video_timesteps")!,
        channels,
      );
      expect(maxAbsDiff(x0, t.get(`x0_${pass}`)!)).toBeLessThanOrEqual(1e-6);
    }
  });

  it("CFG + STG + modality guidance, rescale, Euler step", () => {
    const r = guide(
      { pos: t.get("x0_pos")!, neg: t.get("x0_neg")!, stg: t.get("x0_stg")!, mod: t.get("x0_mod")! },
      { cfg: v.cfg_scale, stg: v.stg_scale, modality: v.modality_scale, rescale: v.rescale_scale },
    );
    expect(maxAbsDiff(r.unrescaled, t.get("guided_unrescaled")!)).toBeLessThanOrEqual(1e-5);
    expect(r.rescaleFactor).toBeCloseTo(t.get("rescale_factor")![0]!, 6);
    expect(maxAbsDiff(r.guided, t.get("guided_x0")!)).toBeLessThanOrEqual(1e-5);
    const next = eulerStep(
      t.get("video_tokens_noisy")!,
      r.guided,
      t.get("step_sigma")![0]!,
      t.get("step_sigma_next")![0]!,
    );
    expect(maxAbsDiff(next, t.get("video_tokens_next")!)).toBeLessThanOrEqual(1e-5);
  });
});

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
