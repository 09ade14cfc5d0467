import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { releaseGpu, requestGpu } from "@a2v/tensor-webgpu";
import { afterAll, describe, expect, it } from "vitest";
import { videoVaeConfig } from "../../src/vae/config.js";
import { gpuMemory } from "../../src/vae/gpu/runtime.js";
import { GpuVideoVae } from "../../src/vae/gpu/video-vae.js";
import { loadVideoVae } from "../../src/vae/load.js";
import { planVideoVaeMemory } from "../../src/vae/memory.js";
import { type HostTensor, hostTensor } from "../../src/vae/reference/tensor.js";
import { goldenSet, maxAbsErr, openWeights, readConfig } from "./golden.js";

const dir = goldenSet("video_vae");
afterAll(() => releaseGpu());

/** A generated clip: ffmpeg's testsrc2 pattern as [1, 3, F, H, W] in [-1, 1]. */
function testClip(frames: number, size: number): HostTensor {
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
  const clip = hostTensor([1, 3, frames, size, size]);
  const plane = size * size;
  for (let f = 0; f < frames; f++)
    for (let p = 0; p < plane; p++)
      for (let c = 0; c < 3; c++)
        clip.data[(c * frames + f) * plane + p] = ff.stdout[(f * plane + p) * 3 + c]! / 127.5 - 1;
  return clip;
}

describe.skipIf(!dir)("tiny video VAE round trip of a generated clip on the GPU", () => {
  it("encodes and decodes tiled and untiled; tiling lowers peak GPU memory; one tile equals untiled", async () => {
    const { device } = await requestGpu();
    const config = videoVaeConfig(readConfig(dir!).vae_metadata as Record<string, unknown>, "config.json");
    const load = async (part: "encoder" | "decoder") => {
      const file = join(dir!, `video_${part}.safetensors`);
      const source = await openWeights(file);
      const vae = GpuVideoVae.create(device, await loadVideoVae(part, source, config, file), part);
      await source.close();
      return vae;
    };
    const [encoder, decoder] = [await load("encoder"), await load("decoder")];
    const clip = testClip(9, 96);
    const peakOf = async (f: () => Promise<HostTensor>) => {
      gpuMemory.peak = gpuMemory.live;
      const base = gpuMemory.live;
      const out = await f();
      return { out, peak: gpuMemory.peak - base };
    };
    const latent = await peakOf(() => encoder.run(clip));
    const latentTiled = await peakOf(() => encoder.runTiled(clip, { tileSize: 64, overlap: 32 }));
    expect(latent.out.shape).toEqual([1, 8, 2, 3, 3]);
    expect(latentTiled.out.shape).toEqual([1, 8, 2, 3, 3]);
    expect(latentTiled.peak).toBeLessThan(latent.peak);
    expect(latentTiled.peak).toBe(
      planVideoVaeMemory(encoder.vae.layout, 4, "encoder", [3, 9, 64, 64]).peakActivationBytes,
    );
    expect(maxAbsErr(await encoder.runTiled(clip, { tileSize: 96, overlap: 0 }), latent.out)).toBe(0);

    const video = await peakOf(() => decoder.run(latent.out));
    const videoTiled = await peakOf(() => decoder.runTiled(latent.out, { tileSize: 64, overlap: 32 }));
    expect(video.out.shape).toEqual(clip.shape);
    expect(videoTiled.out.shape).toEqual(clip.shape);
    expect(videoTiled.peak).toBeLessThan(video.peak);
    for (const t of [latentTiled.out, video.out, videoTiled.out]) expect(t.data.every(Number.isFinite)).toBe(true);
    encoder.destroy();
    decoder.destroy();
  });
});
