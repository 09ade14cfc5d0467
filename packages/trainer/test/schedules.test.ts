import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { createRng, ltx2Sigmas, runScheduleParity, ShiftedLogitNormalSampler, tokenShift } from "../src/index.js";
import { goldenSet } from "./golden.js";

const dir = goldenSet("schedules");

describe.skipIf(!dir)("golden parity: schedules", () => {
  it("sigma schedules, sampler stages, per-pass x0, guidance, rescale and the Euler step all match", async () => {
    const report = await runScheduleParity(dir!);
    const failed = report.checks.filter((c) => !c.ok);
    expect(failed).toEqual([]);
    // 8 schedules + 3 lengths × 3 sampler stages + 4 x0 + unrescaled, factor, guided, next.
    expect(report.checks.length).toBe(8 + 9 + 4 + 4);
    expect(report.ok).toBe(true);
  });

  it("token shifts", () => {
    const config = JSON.parse(readFileSync(`${dir}/config.json`, "utf8"));
    for (const { seq_length, shift } of config.sampler.shifts as { seq_length: number; shift: number }[]) {
      expect(tokenShift(seq_length)).toBeCloseTo(shift, 12);
    }
  });

  it("refuses a golden set of another kind", async () => {
    await expect(runScheduleParity(dir!.replace(/schedules$/, "transformer_a2v"))).rejects.toThrow(/not "schedules"/);
  });
});

describe("ltx2Sigmas", () => {
  it("runs from 1 down to the terminal sigma, then 0, strictly decreasing", () => {
    for (const steps of [1, 8, 30, 50]) {
      const s = ltx2Sigmas(steps, { tokens: 2048 });
      expect(s.length).toBe(steps + 1);
      expect(s[0]).toBeCloseTo(1, 12);
      expect(s[steps]).toBe(0);
      expect(s[steps - 1]).toBeCloseTo(steps > 1 ? 0.1 : 1, 12);
      for (let i = 1; i <= steps; i++) expect(s[i]!).toBeLessThan(s[i - 1]!);
    }
    expect(() => ltx2Sigmas(0)).toThrow(expect.objectContaining({ name: "A2VError", code: "invalid_steps" }));
  });

  it("more tokens shift the schedule towards high noise", () => {
    const few = ltx2Sigmas(10, { tokens: 256 });
    const many = ltx2Sigmas(10, { tokens: 6144 });
    for (let i = 1; i < 9; i++) expect(many[i]!).toBeGreaterThan(few[i]!);
  });
});

describe("ShiftedLogitNormalSampler with a seeded generator", () => {
  it("takes the uniform branch only when the mixing draw is <= uniformProb", () => {
    const sampler = new ShiftedLogitNormalSampler();
    const uniform = sampler.map(1024, 0.3, 0.25, 0.05);
    expect(uniform.sample).toBeCloseTo(0.999 * 0.25 + 0.001, 12);
    const logit = sampler.map(1024, 0.3, 0.25, 0.5);
    expect(logit.sample).toBe(logit.stretched);
    // Draws far below the 0.5th percentile are reflected at eps, never negative.
    expect(sampler.map(1024, -10, 0, 1).sample).toBeGreaterThan(0);
  });

  it("is reproducible, stays in (0, 1], and shifts with the token count", () => {
    const sampler = new ShiftedLogitNormalSampler();
    const a = Array.from({ length: 4000 });
    const r1 = createRng(7);
    const r2 = createRng(7);
    const s1 = a.map(() => sampler.sample(1024, r1));
    const s2 = a.map(() => sampler.sample(1024, r2));
    expect(s1).toEqual(s2);
    for (const t of s1) {
      expect(t).toBeGreaterThan(0);
      expect(t).toBeLessThanOrEqual(1);
    }
    // Longer videos get noisier timesteps on average (the shift grows with token count).
    const r3 = createRng(7);
    const long = a.map(() => sampler.sample(6144, r3));
    const mean = (xs: number[]) => xs.reduce((x, y) => x + y, 0) / xs.length;
    expect(mean(long)).toBeGreaterThan(mean(s1) + 0.05);
  });
});

describe("createRng", () => {
  it("gives uniforms in [0,1) and normals with mean 0 and variance 1", () => {
    const rng = createRng(123);
    const n = 20000;
    let su = 0;
    let sn = 0;
    let sn2 = 0;
    for (let i = 0; i < n; i++) {
      const u = rng.uniform();
      expect(u).toBeGreaterThanOrEqual(0);
      expect(u).toBeLessThan(1);
      su += u;
      const z = rng.normal();
      sn += z;
      sn2 += z * z;
    }
    expect(su / n).toBeCloseTo(0.5, 1);
    expect(sn / n).toBeCloseTo(0, 1);
    expect(sn2 / n).toBeCloseTo(1, 1);
    expect(createRng(1).uniform()).not.toBe(createRng(2).uniform());
  });
});
