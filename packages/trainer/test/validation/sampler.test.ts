import { execFileSync } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { decodeAudio, mediaTools } from "@a2v/audio";
import { decodeStartImage } from "@a2v/dataset";
import {
  type ActiveLora,
  ensureTinyModel,
  initLoraWeights,
  type LtxModel,
  LtxTransformer,
  loraTargets,
  openLtxModel,
  patchifyVideo,
  transformerParameters,
  videoFromRgbFrames,
} from "@a2v/ltx-model";
import { init, releaseGpu } from "@a2v/tensor-webgpu";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadModelVideoVae, onGpu } from "../../src/encode/encoders.js";
import { conditioningAudio } from "../../src/validation/media.js";
import { makeReel, probeMediaInfo } from "../../src/validation/reel.js";
import { stgBlockFor, type ValidationRequest, ValidationSampler } from "../../src/validation/sampler.js";

let dir: string;
let model: LtxModel;
let backend: LtxTransformer;
let sampler: ValidationSampler;
let request: ValidationRequest;

/** A 320×240 test pattern (PNG) and 1.3 s of a 440 Hz tone (WAV): the audio is longer than the clip, so it is fitted. */
function fixtures(into: string): { image: string; audio: string } {
  const ffmpeg = mediaTools().ffmpeg.path;
  const image = join(into, "start.png");
  const audio = join(into, "voice.wav");
  execFileSync(ffmpeg, ["-v", "error", "-f", "lavfi", "-i", "testsrc2=size=320x240", "-frames:v", "1", image]);
  execFileSync(ffmpeg, ["-v", "error", "-f", "lavfi", "-i", "sine=frequency=440:duration=1.3", "-ac", "2", audio]);
  return { image, audio };
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "a2v-validation-"));
  model = await openLtxModel(await ensureTinyModel(join(dir, "models")));
  await init();
  // Composed ops, as on every CPU adapter (lavapipe): the fused kernels compile for minutes there.
  backend = new LtxTransformer({ fused: false });
  await backend.loadWeights(
    model.transformerWeights,
    transformerParameters(model.transformer).map((p) => p.key),
  );
  sampler = await ValidationSampler.create(model, { cacheDir: join(dir, "cache") });
  const { image, audio } = fixtures(dir);
  request = {
    image,
    audio: `file://${audio}`,
    prompt: "a2v a test pattern hums",
    negativePrompt: "worst quality, blurry",
    frames: 9,
    fps: 24,
    bucket: { width: 128, height: 96 },
    stgScale: 1,
    seed: 7,
    steps: 4,
  };
});
afterAll(async () => {
  await sampler?.dispose();
  backend?.dispose();
  await model?.close();
  await rm(dir, { recursive: true, force: true });
  releaseGpu();
});

describe("ValidationSampler on the embedded tiny model", () => {
  let first: Awaited<ReturnType<ValidationSampler["sample"]>>;
  const startFrames: Float32Array[] = [];

  it("holds the start image's latent as the first latent frame through every step, and writes an H.264 + AAC mp4", async () => {
    first = await sampler.sample(backend, undefined, request, join(dir, "a.mp4"), {
      onStep: (e) => startFrames.push(e.tokens.slice(0, 3 * 4 * model.transformer.inChannels)),
    });
    // The start image's latent, computed independently: the training decode of the picture, the VAE encoder.
    const pixels = await decodeStartImage(request.image, request.bucket);
    const vae = await loadModelVideoVae(model, { encoder: true });
    const latent = await onGpu(videoFromRgbFrames([pixels], 128, 96), (x) => vae.encodeTiled(x));
    vae.dispose();
    const expected = patchifyVideo(latent.data, model.transformer.inChannels, { frames: 1, height: 3, width: 4 });
    expect(startFrames).toHaveLength(4);
    for (const tokens of startFrames) expect(tokens).toEqual(expected);
    expect(first.latent.shape).toEqual([model.transformer.inChannels, 2, 3, 4]);
    expect(first.latent.data.every(Number.isFinite)).toBe(true);
    // pos, neg, STG, modality: four passes per step; the STG block of a 2-block DiT is 1 (28 of 48).
    expect(first.passesPerStep).toBe(4);
    expect(stgBlockFor(2)).toBe(1);
    expect(stgBlockFor(48)).toBe(28);
    // Training's shift for 2·3·4 = 24 tokens, not the fixed 4096-token one.
    expect(first.sigmas[0]).toBe(1);
    expect(first.sigmas.at(-1)).toBe(0);
    expect(first.sigmas[1]).toBeLessThan(0.9);

    const info = await probeMediaInfo(first.file);
    expect(info).toMatchObject({
      width: 128,
      height: 96,
      videoCodec: "h264",
      pixelFormat: "yuv420p",
      audioCodec: "aac",
      frames: 9,
    });
    expect(info.duration).toBeCloseTo(9 / 24, 1);
    // faststart: the index (moov) comes before the media data (mdat).
    const bytes = await readFile(first.file);
    expect(bytes.indexOf("moov")).toBeLessThan(bytes.indexOf("mdat"));
    console.log(`preview (tiny, 128x96, 9 frames, 4 steps): ${JSON.stringify(first.seconds)}`);
  }, 600_000);

  it("muxes the given audio, normalised and fitted to the clip", async () => {
    const fitted = await conditioningAudio(join(dir, "voice.wav"), 9 / 24);
    const { pcm } = await decodeAudio(first.file, { sampleRate: 16_000, channels: 2 });
    expect(Math.abs(pcm[0]!.length - fitted[0]!.length)).toBeLessThanOrEqual(400);
    // AAC is lossy: compare the waveforms by correlation over the common span, and the level.
    const n = Math.min(pcm[0]!.length, fitted[0]!.length);
    let [dot, aa, bb] = [0, 0, 0];
    for (let i = 0; i < n; i++) {
      dot += pcm[0]![i]! * fitted[0]![i]!;
      aa += pcm[0]![i]! ** 2;
      bb += fitted[0]![i]! ** 2;
    }
    expect(dot / Math.sqrt(aa * bb)).toBeGreaterThan(0.95);
    expect(Math.sqrt(aa / n)).toBeCloseTo(Math.sqrt(bb / n), 1);
  }, 600_000);

  it("is deterministic for a seed, and a LoRA with B = 0 samples exactly as no LoRA; the backend is left as it was", async () => {
    const again = await sampler.sample(backend, undefined, request, join(dir, "b.mp4"));
    expect(again.latent.data).toEqual(first.latent.data);
    const other = await sampler.sample(backend, undefined, { ...request, seed: 8 }, join(dir, "c.mp4"));
    expect(other.latent.data).not.toEqual(first.latent.data);

    const targets = loraTargets(model.transformer, {
      rank: 4,
      alpha: 4,
      targetModules: ["to_q", "to_k", "to_v", "to_out.0"],
    });
    const weights = initLoraWeights(targets, 4, Math.random);
    for (const [key, t] of weights) backend.addParameter(key, t.data, t.shape[0]!, t.shape[1]!);
    const lora: ActiveLora = { modules: new Set(targets.map((t) => t.module)), scale: 1 };
    const adapted = await sampler.sample(backend, lora, request, join(dir, "d.mp4"));
    expect(adapted.latent.data).toEqual(first.latent.data);
    for (const [key, t] of weights) {
      const p = backend.parameter(key);
      expect(p.grad, key).toBeUndefined();
      expect(await p.toArray(), key).toEqual(t.data);
    }
  }, 600_000);

  it("runs the guidance passes of a step as one batch, sampling what one pass after another samples", async () => {
    expect(first.passesPerStep).toBe(4);
    expect(first.passesPerForward).toBe(4);
    const sequential = await ValidationSampler.create(model, { cacheDir: join(dir, "cache"), batchGuidance: false });
    try {
      const one = await sequential.sample(backend, undefined, request, join(dir, "e.mp4"));
      expect(one.passesPerForward).toBe(1);
      let worst = 0;
      for (let i = 0; i < one.latent.data.length; i++)
        worst = Math.max(worst, Math.abs(one.latent.data[i]! - first.latent.data[i]!));
      expect(worst).toBeLessThan(1e-4);
    } finally {
      await sequential.dispose();
    }
  }, 600_000);

  it("joins previews into a reel under a band naming the step and prompt, with both streams", async () => {
    const reel = join(dir, "reel.mp4");
    await makeReel(
      [
        { file: first.file, step: 0, prompt: request.prompt },
        {
          file: join(dir, "b.mp4"),
          step: 100,
          prompt: `a "quoted": prompt; with [brackets] and 100% ${"long ".repeat(30)}`,
        },
      ],
      reel,
    );
    const info = await probeMediaInfo(reel);
    expect(info.videoCodec).toBe("h264");
    expect(info.pixelFormat).toBe("yuv420p");
    expect(info.audioCodec).toBe("aac");
    expect(info.width).toBe(128);
    expect(info.height).toBeGreaterThan(96);
    expect(info.frames).toBe(18);
    expect(Math.abs(info.duration - 2 * (9 / 24))).toBeLessThan(1 / 24);
  }, 600_000);
});
