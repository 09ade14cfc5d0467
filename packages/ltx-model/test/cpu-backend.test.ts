import { describe, expect, it } from "vitest";
import { LTX_TINY } from "../src/config.js";
import { numel, transformerParameters } from "../src/layout.js";
import { audioPositions, videoPositions } from "../src/positions.js";
import { CpuBackend, type CpuTensor } from "../src/reference/cpu-backend.js";
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

/** A scalar function of one parameter exercising every backend op the transformer uses. */
function composite(b: CpuBackend, p: CpuTensor): CpuTensor {
  const heads = 2;
  const x = b.constant(rand(4 * 8, 1), 4, 8);
  const ctx = b.constant(rand(3 * 8, 2), 3, 8);
  const w = b.constant(rand(8 * 8, 3, 0.5), 8, 8);
  const bias = b.constant(rand(8, 4), 1, 8);
  const cos = b.constant(rand(4 * 4, 5), 4, 4);
  const sin = b.constant(rand(4 * 4, 6), 4, 4);
  const h = b.add(b.linear(x, p, bias), b.sliceRows(b.linear(ctx, w, null), 0, 1));
  const q = b.rope(b.rmsNorm(h, 1e-6, b.constant(rand(8, 7), 1, 8)), cos, sin, heads);
  const k = b.rmsNorm(b.linear(ctx, p, null), 1e-6, null);
  const att = b.attention(q, k, b.geluTanh(b.linear(ctx, w, bias)), heads);
  const gated = b.mulPerHead(att, b.affine(b.sigmoid(b.sliceCols(h, 0, 2)), 2, 0), heads);
  const out = b.mul(b.layerNorm(b.silu(gated), 1e-6), b.affine(b.sliceCols(h, 0, 8), 0.5, 1));
  return b.maskedMse(out, b.constant(rand(32, 9), 4, 8), Float32Array.of(1, 0, 1, 1));
}

describe("CPU reference backend", () => {
  it("back-propagates every op exactly (central finite differences)", () => {
    const b = new CpuBackend();
    const init = rand(64, 11, 0.4);
    b.addParameter("p", init, 8, 8);
    const loss = composite(b, b.parameter("p"));
    b.backward(loss);
    const grad = b.parameterGrad("p");
    const h = 1e-6;
    let worst = 0;
    for (let i = 0; i < init.length; i++) {
      const at = (delta: number) => {
        const probe = new CpuBackend();
        const values = init.slice();
        values[i]! += delta;
        probe.addParameter("p", values, 8, 8);
        return composite(probe, probe.parameter("p")).data[0]!;
      };
      const numeric = (at(h) - at(-h)) / (2 * h);
      worst = Math.max(worst, Math.abs(numeric - grad[i]!) / (1e-8 + Math.abs(numeric)));
    }
    expect(worst).toBeLessThan(1e-5);
  });
});

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
    const b = new CpuBackend();
    await b.loadWeights(
      weights,
      specs.map((s) => s.key),
    );
    const out = ltxForward(b, LTX_TINY, video(1), audio(audioSeed), { perturbations });
    return { video: await b.read(out.video), audio: await b.read(out.audio) };
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
});
