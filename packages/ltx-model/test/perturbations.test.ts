import { init, releaseGpu } from "@a2v/tensor-webgpu";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LTX_TINY } from "../src/config.js";
import { numel, transformerParameters } from "../src/layout.js";
import { LtxTransformer } from "../src/ltx-transformer.js";
import { audioPositions, videoPositions } from "../src/positions.js";
import { ltxForward } from "../src/transformer.js";
import { MemoryWeights } from "../src/weights/checkpoint.js";

function rand(n: number, seed: number, scale = 1): Float64Array {
  let a = seed >>> 0;
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    out[i] = ((((t ^ (t >>> 14)) >>> 0) / 4294967296) * 2 - 1) * scale;
  }
  return out;
}

beforeAll(() => init());
afterAll(() => releaseGpu());

describe("perturbation hooks", () => {
  const specs = transformerParameters(LTX_TINY);
  const weights = new MemoryWeights(
    new Map(
      specs.map((s, i) => [s.key, { shape: s.shape, data: Float32Array.from(rand(numel(s.shape), 100 + i, 0.3)) }]),
    ),
  );
  const grid = { frames: 2, height: 1, width: 2 };
  const video = (seed: number) => ({
    tokens: Float32Array.from(rand(4 * 128, seed)),
    timesteps: Float32Array.of(0, 0, 0.5, 0.5),
    sigma: 0.5,
    positions: videoPositions(grid, 24),
    context: Float32Array.from(rand(3 * 32, seed + 1)),
  });
  const audio = (seed: number) => ({
    tokens: Float32Array.from(rand(3 * 128, seed)),
    timesteps: new Float32Array(3),
    sigma: 0,
    positions: audioPositions(3),
    context: Float32Array.from(rand(2 * 16, seed + 1)),
  });
  async function run(audioSeed: number, perturbations = {}) {
    const b = new LtxTransformer({ device: "cpu" });
    await b.loadWeights(
      weights,
      specs.map((s) => s.key),
    );
    const out = ltxForward(b, LTX_TINY, video(1), audio(audioSeed), { perturbations });
    return { video: await out.video.toArray(), audio: await out.audio.toArray() };
  }

  it("audio reaches video only through audio→video attention", async () => {
    const all = [0, 1];
    const a = await run(20, { skipAudioToVideo: all });
    const b = await run(30, { skipAudioToVideo: all });
    expect(Array.from(a.video)).toEqual(Array.from(b.video));
    const c = await run(20);
    const d = await run(30);
    expect(Array.from(c.video)).not.toEqual(Array.from(d.video));
  });

  it("STG replaces the chosen block's self-attention and leaves others untouched", async () => {
    const base = await run(20);
    const stg = await run(20, { skipVideoSelfAttention: [1] });
    expect(Array.from(stg.video)).not.toEqual(Array.from(base.video));
    // With V2A also dropped in that last block, the video-side change cannot reach audio.
    const stgLast = await run(20, { skipVideoSelfAttention: [1], skipVideoToAudio: [1] });
    const last = await run(20, { skipVideoToAudio: [1] });
    expect(Array.from(stgLast.audio)).toEqual(Array.from(last.audio));
  });

  const concat = (parts: Float32Array[]) => {
    const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
    for (let i = 0; i < parts.length; i++) out.set(parts[i]!, i * parts[i]!.length);
    return out;
  };
  // Validation runs its guidance passes as one batch: each example keeps its own tokens, context and perturbations.
  for (const options of [
    { name: "CPU device", device: "cpu" as const, fused: true, tolerance: 1e-12 },
    { name: "GPU, composed ops", device: "gpu" as const, fused: false, tolerance: 1e-4 },
    { name: "GPU, fused kernels", device: "gpu" as const, fused: true, tolerance: 1e-4 },
  ]) {
    it(`a batch with per-example inputs and perturbations equals each example run alone (${options.name})`, async () => {
      const reference = new LtxTransformer({ device: "cpu" });
      const b = new LtxTransformer({ device: options.device, fused: options.fused });
      for (const t of [reference, b])
        await t.loadWeights(
          weights,
          specs.map((s) => s.key),
        );
      const cases = [{}, { skipVideoSelfAttention: [1] }, { skipAudioToVideo: [0, 1], skipVideoToAudio: [0, 1] }];
      const videos = cases.map((_, j) => video(10 + j));
      const audios = cases.map((_, j) => audio(20 + j));
      const out = ltxForward(
        b,
        LTX_TINY,
        {
          ...videos[0]!,
          batch: 3,
          tokens: concat(videos.map((v) => v.tokens)),
          context: concat(videos.map((v) => v.context)),
        },
        {
          ...audios[0]!,
          batch: 3,
          tokens: concat(audios.map((a) => a.tokens)),
          context: concat(audios.map((a) => a.context)),
        },
        { perturbations: cases },
      );
      expect(out.video.shape).toEqual([3, 4, 128]);
      expect(out.audio.shape).toEqual([3, 3, 128]);
      const [batchVideo, batchAudio] = [await out.video.toArray(), await out.audio.toArray()];
      for (let j = 0; j < cases.length; j++) {
        const alone = ltxForward(reference, LTX_TINY, videos[j]!, audios[j]!, { perturbations: cases[j] });
        const [v, a] = [await alone.video.toArray(), await alone.audio.toArray()];
        let worst = 0;
        for (let i = 0; i < v.length; i++) worst = Math.max(worst, Math.abs(batchVideo[j * v.length + i]! - v[i]!));
        for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(batchAudio[j * a.length + i]! - a[i]!));
        expect(worst, `example ${j}`).toBeLessThan(options.tolerance);
      }
      b.dispose();
    }, 300_000);
  }

  it("refuses a perturbation list whose length is not the batch", async () => {
    const b = new LtxTransformer({ device: "cpu" });
    await b.loadWeights(
      weights,
      specs.map((s) => s.key),
    );
    expect(() => ltxForward(b, LTX_TINY, video(1), audio(2), { perturbations: [{}, {}] })).toThrow(/batch of 1/);
  });
});
