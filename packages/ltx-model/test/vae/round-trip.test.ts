import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { bucketSize, releaseGpu, type Tensor } from "@a2v/tensor-webgpu";
import { afterAll, describe, expect, it } from "vitest";
import { videoVaeConfig } from "../../src/vae/config.js";
import { loadVideoVae } from "../../src/vae/load.js";
import { planVideoVaeMemory } from "../../src/vae/memory.js";
import { fromHost, toHost } from "../../src/vae/tensors.js";
import { VideoVae } from "../../src/vae/video-vae.js";
import { goldenSet, maxAbsErr, openWeights, readConfig } from "./golden.js";
import { poolPeak } from "./pool-peak.js";

const dir = goldenSet("video_vae");
afterAll(() => releaseGpu());

/** A generated clip: ffmpeg's testsrc2 pattern as [1, 3, F, H, W] in [-1, 1]. */
function testClip(frames: number, size: number): { shape: number[]; data: Float32Array } {
  const ff = spawnSync(
    "ffmpeg",
    [
      "-v",
      "error",
      "-f",
      "lavfi",
      "-i",
      `testsrc2=size=${size}x${size}:rate=24`,
      "-frames:v",
      String(frames),
      "-f",
      "rawvideo",
      "-pix_fmt",
      "rgb24",
      "-",
    ],
    { maxBuffer: 1 << 26 },
  );
  if (ff.status !== 0) throw new Error(`ffmpeg failed: ${ff.stderr}`);
  const clip = { shape: [1, 3, frames, size, size], data: new Float32Array(3 * frames * size * size) };
  const plane = size * size;
  for (let f = 0; f < frames; f++)
    for (let p = 0; p < plane; p++)
      for (let c = 0; c < 3; c++)
        clip.data[(c * frames + f) * plane + p] = ff.stdout[(f * plane + p) * 3 + c]! / 127.5 - 1;
  return clip;
}

describe.skipIf(!dir)("tiny video VAE round trip of a generated clip on the GPU", () => {
  it("encodes and decodes tiled and untiled; tiling lowers peak GPU memory; one tile equals untiled", async () => {
    const config = videoVaeConfig(readConfig(dir!).vae_metadata as Record<string, unknown>, "config.json");
    const load = async (part: "encoder" | "decoder") => {
      const file = join(dir!, `video_${part}.safetensors`);
      const source = await openWeights(file);
      const loaded = await loadVideoVae(part, source, config, file);
      await source.close();
      return loaded;
    };
    const [encoder, decoder] = [await load("encoder"), await load("decoder")];
    const vae = await VideoVae.create({ encoder, decoder });
    const clip = fromHost(testClip(9, 96), "gpu");
    const peakOf = async (f: () => Promise<Tensor>) => {
      const { result, peak } = await poolPeak(f);
      return { out: result, peak };
    };
    const latent = await peakOf(() => vae.encode(clip));
    const latentTiled = await peakOf(() => vae.encodeTiled(clip, { tileSize: 64, overlap: 32 }));
    expect(latent.out.shape).toEqual([1, 8, 2, 3, 3]);
    expect(latentTiled.out.shape).toEqual([1, 8, 2, 3, 3]);
    expect(latentTiled.peak).toBeLessThan(latent.peak);
    // One tile's activations (as planned) plus the blended output.
    expect(latentTiled.peak).toBe(
      planVideoVaeMemory(encoder.layout, 4, "encoder", [1, 3, 9, 64, 64]).peakActivationBytes +
        bucketSize(latent.out.size * 4),
    );
    const oneTile = await vae.encodeTiled(clip, { tileSize: 96, overlap: 0 });
    expect(maxAbsErr(await toHost(oneTile), await toHost(latent.out))).toBe(0);

    const video = await peakOf(() => vae.decode(latent.out));
    const videoTiled = await peakOf(() => vae.decodeTiled(latent.out, { tileSize: 64, overlap: 32 }));
    expect(video.out.shape).toEqual([1, 3, 9, 96, 96]);
    expect(videoTiled.out.shape).toEqual([1, 3, 9, 96, 96]);
    // The output, plus one tile's activations or, while a tile is blended in, its output, the weighted
    // sum and the two ramps (at this tiny width a 64 px tile's output outweighs its activations).
    const tileOut = bucketSize(3 * 9 * 64 * 64 * 4);
    const blend = 2 * tileOut + 2 * bucketSize(64 * 4);
    const tile = planVideoVaeMemory(decoder.layout, 4, "decoder", [1, 8, 2, 2, 2]).peakActivationBytes;
    expect(videoTiled.peak).toBe(bucketSize(video.out.size * 4) + Math.max(tile, blend));
    for (const t of [latentTiled.out, video.out, videoTiled.out]) {
      expect((await t.toArray()).every(Number.isFinite)).toBe(true);
    }
    for (const t of [clip, oneTile, latent.out, latentTiled.out, video.out, videoTiled.out]) t.dispose();
    vae.dispose();
  });
});
