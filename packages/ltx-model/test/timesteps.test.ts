import { init, releaseGpu } from "@a2v/tensor-webgpu";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LTX_TINY } from "../src/config.js";
import { distinctTimesteps } from "../src/embeddings.js";
import { numel, transformerParameters } from "../src/layout.js";
import { type AttentionKernel, LtxTransformer } from "../src/ltx-transformer.js";
import { audioPositions, videoPositions } from "../src/positions.js";
import { ltxForward } from "../src/transformer.js";
import { MemoryWeights } from "../src/weights/checkpoint.js";

beforeAll(() => init());
afterAll(() => releaseGpu());

describe("AdaLN per distinct timestep", () => {
  it("two distinct timesteps: a one-hot [T, U] that hands each token its row", () => {
    const timesteps = Float32Array.of(0, 0.5, 0, 0.5, 0.5);
    const { distinct, oneHot } = distinctTimesteps(timesteps);
    expect(Array.from(distinct)).toEqual([0, 0.5]);
    // oneHot · distinct gives back every token's timestep, exactly.
    const back = Array.from(timesteps, (_, i) => oneHot![i * 2]! * distinct[0]! + oneHot![i * 2 + 1]! * distinct[1]!);
    expect(back).toEqual(Array.from(timesteps));
    expect(oneHot!.reduce((a, x) => a + x, 0)).toBe(timesteps.length);
  });

  it("one distinct timestep broadcasts; more than maxDistinct keeps one row per token", () => {
    expect(distinctTimesteps(new Float32Array(7).fill(0.25))).toEqual({
      distinct: Float32Array.of(0.25),
      oneHot: null,
    });
    const many = Float32Array.from({ length: 20 }, (_, i) => i / 20);
    const perToken = distinctTimesteps(many, 16);
    expect(perToken.oneHot).toBeNull();
    expect(perToken.distinct).toBe(many);
    expect(distinctTimesteps(many, 20).oneHot).not.toBeNull();
  });
});

describe("LtxTransformer attentionKernel", () => {
  it("flash and materialized attention give the same forward (what a GPU runs, measured on a CPU adapter)", async () => {
    const specs = transformerParameters(LTX_TINY);
    let seed = 7;
    const rand = (n: number, scale: number) =>
      Float32Array.from({ length: n }, () => {
        seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
        return ((seed / 4294967296) * 2 - 1) * scale;
      });
    const weights = new MemoryWeights(
      new Map(specs.map((s) => [s.key, { shape: s.shape, data: rand(numel(s.shape), 0.3) }])),
    );
    const grid = { frames: 2, height: 2, width: 2 };
    const video = {
      tokens: rand(8 * 128, 1),
      timesteps: Float32Array.of(0, 0, 0, 0, 0.5, 0.5, 0.5, 0.5),
      sigma: 0.5,
      positions: videoPositions(grid, 24),
      context: rand(3 * 32, 1),
    };
    const audio = {
      tokens: rand(3 * 128, 1),
      timesteps: new Float32Array(3),
      sigma: 0,
      positions: audioPositions(3),
      context: rand(2 * 16, 1),
    };
    const run = async (attentionKernel: AttentionKernel) => {
      const b = new LtxTransformer({ attentionKernel });
      await b.loadWeights(
        weights,
        specs.map((s) => s.key),
      );
      const out = ltxForward(b, LTX_TINY, video, audio);
      const values = [await out.video.toArray(), await out.audio.toArray()];
      out.video.dispose();
      out.audio.dispose();
      b.dispose();
      return values;
    };
    const flash = await run("fused");
    const materialized = await run("materialized");
    for (const [i, f] of flash.entries()) {
      const m = materialized[i]!;
      const scale = Math.max(...Array.from(m, Math.abs));
      const worst = Math.max(...Array.from(f, (x, j) => Math.abs(x - m[j]!)));
      expect(worst / scale).toBeLessThan(1e-5);
    }
  });
});
