import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ensureTinyModel, type LtxModel, openLtxModel } from "@a2v/ltx-model";
import { releaseGpu } from "@a2v/tensor-webgpu";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LatentCache } from "../../src/encode/latent-cache.js";
import { type EncodableSample, SampleEncoder } from "../../src/encode/sample-encoder.js";

let dir: string;
let model: LtxModel;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "a2v-encode-"));
  model = await openLtxModel(await ensureTinyModel(join(dir, "models")));
});
afterAll(async () => {
  await model?.close();
  await rm(dir, { recursive: true, force: true });
  releaseGpu();
});

/** A moving gradient with a 440 Hz tone: 17 frames of 64×96 at 24 fps. */
function sample(caption = "a2v a red ball bounces"): EncodableSample {
  const [frames, height, width, fps, rate] = [17, 64, 96, 24, 16000];
  const pixels = new Uint8Array(frames * height * width * 3);
  for (let f = 0; f < frames; f++)
    for (let y = 0; y < height; y++)
      for (let x = 0; x < width; x++) {
        const i = ((f * height + y) * width + x) * 3;
        pixels[i] = (x * 4 + f * 9) & 255;
        pixels[i + 1] = (y * 4) & 255;
        pixels[i + 2] = 128;
      }
  const n = Math.round((frames / fps) * rate);
  const tone = Float32Array.from({ length: n }, (_, i) => 0.5 * Math.sin((2 * Math.PI * 440 * i) / rate));
  return { pixels, frames, width, height, fps, audio: [tone, tone.slice()], sampleRate: rate, caption };
}

describe("SampleEncoder on the embedded tiny model", () => {
  it("encodes a sample into latents and contexts of the model's shapes, and the cache returns them", async () => {
    const encoder = await SampleEncoder.create(model, dir);
    const s = sample();
    const example = await encoder.encode(s);
    encoder.dispose();
    const t = model.transformer;
    // 17 frames → 3 latent frames; 64×96 → 2×3 (×32); audio 17/24 s at 25 latent frames/s.
    expect(example.videoLatents.shape).toEqual([t.inChannels, 3, 2, 3]);
    expect(example.audioLatents.shape[0]! * example.audioLatents.shape[2]!).toBe(t.audioInChannels);
    expect(example.audioLatents.shape[1]).toBeGreaterThanOrEqual(17);
    expect(example.videoContext.shape).toEqual([1024, t.crossAttentionDim]);
    expect(example.audioContext.shape).toEqual([1024, t.audioCrossAttentionDim]);
    for (const x of [example.videoLatents, example.audioLatents, example.videoContext]) {
      expect(x.data.every(Number.isFinite)).toBe(true);
      expect(x.data.some((v) => v !== 0)).toBe(true);
    }
    const cache = new LatentCache(join(dir, "latents"), model.id);
    const key = cache.key(s);
    expect(await cache.get(key)).toBeUndefined();
    await cache.put(key, example);
    const back = await cache.get(key);
    expect(back?.videoLatents.data).toEqual(example.videoLatents.data);
    expect(back?.fps).toBe(24);
    expect(cache.key(sample("another caption"))).not.toBe(key);
  });
});
