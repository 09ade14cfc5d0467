import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ensureTinyModel, type LtxModel, openLtxModel, type VideoVae } from "@a2v/ltx-model";
import { hostTensor, releaseGpu } from "@a2v/tensor-webgpu";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadModelVideoVae, onGpu } from "../../src/encode/encoders.js";
import { createRng } from "../../src/random.js";
import { decodeTiledInTime } from "../../src/validation/decode.js";

let dir: string;
let model: LtxModel;
let vae: VideoVae;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "a2v-decode-"));
  model = await openLtxModel(await ensureTinyModel(join(dir, "models")));
  vae = await loadModelVideoVae(model, { decoder: true });
}, 600_000);
afterAll(async () => {
  vae?.dispose();
  await model?.close();
  await rm(dir, { recursive: true, force: true });
  releaseGpu();
});

describe("temporal tiling of the VAE decode", () => {
  it("decodes in one piece within a tile, and in blended chunks close to the whole decode", async () => {
    // 4 latent frames (25 pixel frames) of 1×1 (32×32 px), every frame different.
    const latent = hostTensor([1, model.videoVae.latentChannels, 4, 1, 1]);
    createRng(5).fillNormal(latent.data);
    const whole = await onGpu(latent, (x) => vae.decodeTiled(x));
    expect(whole.shape).toEqual([1, 3, 25, 32, 32]);
    const one = await decodeTiledInTime(vae, latent, 8, { tileFrames: 64, overlapFrames: 24 });
    expect(one.data).toEqual(whole.data);
    // Chunks of 3 latent frames sharing 2: [0, 3) and [1, 4) → pixel frames [0, 16] and [8, 24].
    const tiled = await decodeTiledInTime(vae, latent, 8, { tileFrames: 16, overlapFrames: 8 });
    expect(tiled.shape).toEqual(whole.shape);
    expect(tiled.data.every(Number.isFinite)).toBe(true);
    const rms = (f: (i: number) => number) => {
      let s = 0;
      for (let i = 0; i < whole.data.length; i++) s += f(i) ** 2;
      return Math.sqrt(s / whole.data.length);
    };
    const signal = rms((i) => whole.data[i]!);
    const error = rms((i) => tiled.data[i]! - whole.data[i]!);
    // Chunks of 3 latent frames are far shorter than the non-causal decoder's temporal receptive field, so the seams
    // show (upstream's 64 / 24 tiles are 9 latent frames); still the blend must beat a one-latent-frame misalignment.
    const plane = 32 * 32;
    const shifted = rms((i) => {
      const z = Math.floor(i / plane) % 25;
      return z + 8 < 25 ? whole.data[i + 8 * plane]! - whole.data[i]! : 0;
    });
    console.log(
      `temporal tiling: rms signal ${signal.toFixed(4)}, tiled error ${error.toFixed(4)}, one-latent-frame shift ${shifted.toFixed(4)}`,
    );
    expect(error).toBeLessThan(shifted);
    expect(error).toBeLessThan(0.6 * signal);
  }, 600_000);
});
