import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { decodeStartImage } from "@a2v/dataset";
import { A2VError } from "@a2v/errors";
import {
  type ActiveLora,
  audioEncoderInput,
  audioPositions,
  DEFAULT_SPATIAL_TILING,
  decodedToUnitRgb,
  type LtxModel,
  type LtxTransformer,
  ltxForward,
  type ModalityInput,
  type Perturbations,
  patchifyAudio,
  patchifyVideo,
  type SpatialTiling,
  unitRgbToFrames,
  unpatchifyVideo,
  videoFromRgbFrames,
  videoPositions,
  videoScaleFactors,
} from "@a2v/ltx-model";
import { type HostTensor, hostTensor, noGrad, scope } from "@a2v/tensor-webgpu";
import {
  loadModelAudioEncoder,
  loadModelVideoVae,
  onGpu,
  type PromptContexts,
  PromptEncoder,
} from "../encode/encoders.js";
import { eulerStep, type GuidanceScales, guide, x0FromVelocity } from "../guidance.js";
import { streamRng } from "../loop/draw.js";
import { ltx2Sigmas } from "../schedules.js";
import { DEFAULT_TEMPORAL_TILING, decodeTiledInTime, type TemporalTiling } from "./decode.js";
import { CONDITIONING_SAMPLE_RATE, conditioningAudio, fetchMedia, writePreviewMp4 } from "./media.js";

/** The official LTX-2.3 validation guidance (ltx-trainer `validation_runner.py`, `configs/a2v_lora.yaml`). */
export const OFFICIAL_VALIDATION = {
  steps: 30,
  cfg: 3,
  modality: 3,
  rescale: 0.7,
  /** STG block of the 48-block LTX-2.3 DiT. */
  stgBlock: 28,
  numLayers: 48,
} as const;

/** RNG stream of validation noise (training uses 0-3, see `streamRng`): previews never consume training draws. */
export const VALIDATION_STREAM = 16;

/** The official STG block mapped to a DiT of `numLayers` blocks (28 of 48; 1 of 2, as the golden set maps it). */
export function stgBlockFor(numLayers: number): number {
  return Math.min(
    numLayers - 1,
    Math.max(0, Math.round((OFFICIAL_VALIDATION.stgBlock * numLayers) / OFFICIAL_VALIDATION.numLayers)),
  );
}

/** One preview to sample: start image + conditioning audio + prompt, at a size, length and guidance. */
export interface ValidationRequest {
  /** Start image (PNG/JPEG, or a video whose first frame is used): path, `file://` or http(s) URL. */
  image: string;
  /** Conditioning audio (any format training accepts): path, `file://` or http(s) URL. */
  audio: string;
  prompt: string;
  negativePrompt: string;
  /** Pixel frames, 1 + 8k. */
  frames: number;
  fps: number;
  /** Frame size in pixels, multiples of 32. */
  bucket: { width: number; height: number };
  /** Spatio-temporal guidance scale (0 turns the STG pass off). */
  stgScale: number;
  /** Seeds the initial noise (its own stream: training draws are never consumed). */
  seed: number;
  /** Euler steps (default 30). */
  steps?: number;
  /**
   * Sigma shift: "training" (default) uses the shift training used for this clip's video token count; "upstream"
   * the fixed 4096-token shift (2.05) of the official validation (LTX-2 issue #283).
   */
  shift?: "training" | "upstream";
  /** Guidance other than STG (defaults: the official cfg 3, modality 3, rescale 0.7). */
  guidance?: Partial<Omit<GuidanceScales, "stg">>;
  /** Audio preparation as training's `audio_normalize` / `audio_preserve_pitch` (default true / true). */
  audioNormalize?: boolean;
  audioPreservePitch?: boolean;
  /** Spatial tiling of the VAE decode (default 512 / 64 px, upstream's). */
  tiling?: SpatialTiling;
  /** Temporal tiling of the VAE decode (default 64 / 24 frames, upstream's; a clip within one tile is one piece). */
  temporalTiling?: TemporalTiling;
}

export interface ValidationStepEvent {
  step: number;
  steps: number;
  sigma: number;
  sigmaNext: number;
  /** Video latent tokens `[Tv, C]` after this step (the first H'·W' are the start image's latent). */
  tokens: Float32Array;
}

export interface SampleCallOptions {
  onStep?: (event: ValidationStepEvent) => void;
  signal?: AbortSignal;
}

export interface PreviewResult {
  file: string;
  /** The final video latent `[C, F', H', W']`. */
  latent: HostTensor;
  sigmas: number[];
  /** Transformer passes per step (pos, neg, STG, modality: those whose scale is active). */
  passesPerStep: number;
  /** Passes per transformer forward: all of them when batched (`batchGuidance`), else 1. */
  passesPerForward: number;
  /** Seconds: conditioning (encoders, cached after the first call), denoising, VAE decode, mp4 encode, total. */
  seconds: { conditioning: number; denoise: number; decode: number; encode: number; total: number };
}

export interface ValidationSamplerOptions {
  /** Caption cache (`cacheDir/captions`, shared with training). */
  cacheDir: string;
  /**
   * Keep Gemma + connectors and the video VAE decoder on the GPU between previews. Default false: each is loaded
   * when needed and freed after, so training keeps the memory (the start-image and audio encoders are always freed
   * after use: their latents are computed once per request and held).
   */
  keepResident?: boolean;
  /** Allow http(s) media on private addresses. Default false. */
  allowPrivateNetwork?: boolean;
  /**
   * Run the guidance passes of a step (positive, negative, STG, modality) as one batch through the transformer, so
   * its weights are read once per step instead of once per pass. Default true; false runs them one after another,
   * which needs a batch's activations only once (one block's activations × passes less memory).
   */
  batchGuidance?: boolean;
}

interface Conditioning {
  /** Patchified start-image latent `[H'·W', C]`. */
  imageTokens: Float32Array;
  audioTokens: Float32Array;
  /** Conditioning audio as fitted (muxed into the preview). */
  pcm: Float32Array[];
}

function invalid(message: string): A2VError {
  return new A2VError("validation_request_invalid", message, {
    status: 422,
    details: [{ code: "validation_request_invalid", message }],
  });
}

/**
 * Guided audio-to-video sampling of validation previews, as the official a2v validation: the start image is the
 * first latent frame (clean, timestep 0, never updated), the conditioning audio is frozen at σ 0, the prompt and
 * negative prompt are encoded once (contexts held in memory, features cached on disk), 30 Euler steps on the LTX-2
 * sigma schedule with CFG, STG on the official block, modality guidance and rescale, then the video VAE decoder
 * (spatially tiled) and an mp4 with the conditioning audio.
 *
 * The transformer is the caller's `LtxTransformer` (training's, holding the base weights and the LoRA parameters):
 * sampling only runs forward passes without autograd, so neither the weights, the LoRA parameters, their gradients
 * nor any training RNG change. The backend runs batch 1, so the guidance passes of a step run one after another.
 */
export class ValidationSampler {
  private readonly contexts = new Map<string, Promise<PromptContexts>>();
  private readonly conditionings = new Map<string, Promise<Conditioning>>();
  private prompts?: Promise<PromptEncoder>;
  private decoder?: Awaited<ReturnType<typeof loadModelVideoVae>>;

  private constructor(
    private readonly model: LtxModel,
    private readonly options: ValidationSamplerOptions,
  ) {}

  static async create(model: LtxModel, options: ValidationSamplerOptions): Promise<ValidationSampler> {
    return new ValidationSampler(model, options);
  }

  /** Prompt contexts, encoded once per sampler (per text). */
  private promptContexts(text: string): Promise<PromptContexts> {
    let pending = this.contexts.get(text);
    if (!pending) {
      pending = (async () => {
        this.prompts ??= PromptEncoder.create(this.model, this.options.cacheDir);
        return (await this.prompts).contexts(text);
      })();
      pending.catch(() => this.contexts.delete(text));
      this.contexts.set(text, pending);
    }
    return pending;
  }

  private async releasePrompts(): Promise<void> {
    if (this.options.keepResident || !this.prompts) return;
    const prompts = this.prompts;
    this.prompts = undefined;
    (await prompts).dispose();
  }

  /** Start-image latent and audio latent of a request, computed once per sampler. */
  private conditioning(request: ValidationRequest): Promise<Conditioning> {
    const key = JSON.stringify([
      request.image,
      request.audio,
      request.frames,
      request.fps,
      request.bucket.width,
      request.bucket.height,
      request.audioNormalize ?? true,
      request.audioPreservePitch ?? true,
    ]);
    let pending = this.conditionings.get(key);
    if (!pending) {
      pending = this.encodeConditioning(request);
      pending.catch(() => this.conditionings.delete(key));
      this.conditionings.set(key, pending);
    }
    return pending;
  }

  private async encodeConditioning(request: ValidationRequest): Promise<Conditioning> {
    const work = await mkdtemp(join(tmpdir(), "a2v-validation-"));
    try {
      const fetchOptions = { workDir: work, allowPrivateNetwork: this.options.allowPrivateNetwork };
      const [imageFile, audioFile] = await Promise.all([
        fetchMedia(request.image, fetchOptions),
        fetchMedia(request.audio, fetchOptions),
      ]);
      const { width, height } = request.bucket;
      const pixels = await decodeStartImage(imageFile, request.bucket);
      const pcm = await conditioningAudio(audioFile, request.frames / request.fps, {
        normalize: request.audioNormalize,
        preservePitch: request.audioPreservePitch,
      });
      const channels = this.model.videoVae.latentChannels;
      const video = await loadModelVideoVae(this.model, { encoder: true });
      let image: HostTensor;
      try {
        image = await onGpu(videoFromRgbFrames([pixels], width, height), (x) => video.encodeTiled(x));
      } finally {
        video.dispose();
      }
      const [, , , h, w] = image.shape as [number, number, number, number, number];
      const imageTokens = patchifyVideo(image.data, channels, { frames: 1, height: h, width: w });
      const audioEncoder = await loadModelAudioEncoder(this.model);
      let audio: HostTensor;
      try {
        audio = await onGpu(audioEncoderInput(pcm, CONDITIONING_SAMPLE_RATE), async (x) => audioEncoder.encode(x));
      } finally {
        audioEncoder.dispose();
      }
      const [, ac, at, am] = audio.shape as [number, number, number, number];
      return { imageTokens, audioTokens: patchifyAudio(audio.data, ac, at, am), pcm };
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  }

  private check(request: ValidationRequest) {
    const factors = videoScaleFactors(this.model.videoVae);
    const { width, height } = request.bucket;
    if (!Number.isInteger(request.frames) || request.frames < 1 || (request.frames - 1) % factors.time !== 0)
      throw invalid(`frames must be 1 + ${factors.time}k, got ${request.frames}`);
    if (!(request.fps > 0)) throw invalid(`fps must be positive, got ${request.fps}`);
    if (
      !Number.isInteger(width) ||
      !Number.isInteger(height) ||
      width <= 0 ||
      height <= 0 ||
      width % factors.width !== 0 ||
      height % factors.height !== 0
    )
      throw invalid(`the frame size must be positive multiples of ${factors.width}, got ${width}x${height}`);
    const steps = request.steps ?? OFFICIAL_VALIDATION.steps;
    if (!Number.isInteger(steps) || steps < 1) throw invalid(`steps must be a positive integer, got ${steps}`);
    if (!(request.stgScale >= 0)) throw invalid(`stgScale must be >= 0, got ${request.stgScale}`);
    return {
      steps,
      grid: {
        frames: 1 + (request.frames - 1) / factors.time,
        height: height / factors.height,
        width: width / factors.width,
      },
    };
  }

  /**
   * Samples one preview with the backend's transformer (and `lora`, when given) and writes it to `outFile` (mp4:
   * H.264 yuv420p + AAC with the conditioning audio, faststart). Leaves the backend as it found it.
   */
  async sample(
    backend: LtxTransformer,
    lora: ActiveLora | undefined,
    request: ValidationRequest,
    outFile: string,
    options: SampleCallOptions = {},
  ): Promise<PreviewResult> {
    const started = performance.now();
    const { steps, grid } = this.check(request);
    const config = this.model.transformer;
    const channels = config.inChannels;
    const scales: GuidanceScales = {
      cfg: request.guidance?.cfg ?? OFFICIAL_VALIDATION.cfg,
      stg: request.stgScale,
      modality: request.guidance?.modality ?? OFFICIAL_VALIDATION.modality,
      rescale: request.guidance?.rescale ?? OFFICIAL_VALIDATION.rescale,
    };

    const [cond, pos, neg] = await Promise.all([
      this.conditioning(request),
      this.promptContexts(request.prompt),
      scales.cfg !== 1 ? this.promptContexts(request.negativePrompt) : undefined,
    ]);
    await this.releasePrompts();
    const conditioningDone = performance.now();

    const tokensPerFrame = grid.height * grid.width;
    const tokens = grid.frames * tokensPerFrame;
    if (cond.imageTokens.length !== tokensPerFrame * channels)
      throw new A2VError("validation_shape_mismatch", "the start image latent does not match the video latent grid");
    const sigmas = ltx2Sigmas(steps, request.shift === "upstream" ? {} : { tokens });
    // Initial state (GaussianNoiser): noise on generated tokens, the clean start-image latent on frame 0.
    let x: Float32Array = streamRng(request.seed, VALIDATION_STREAM, 0).fillNormal(new Float32Array(tokens * channels));
    x.set(cond.imageTokens, 0);
    const positions = videoPositions(grid, request.fps);
    const audioCount = cond.audioTokens.length / config.audioInChannels;
    const audio: ModalityInput = {
      tokens: cond.audioTokens,
      timesteps: new Float32Array(audioCount),
      sigma: 0,
      positions: audioPositions(audioCount),
      context: pos.audio.data,
    };
    const allBlocks = Array.from({ length: config.numLayers }, (_, i) => i);
    const passes: { name: "pos" | "neg" | "stg" | "mod"; context: Float32Array; perturbations?: Perturbations }[] = [
      { name: "pos", context: pos.video.data },
    ];
    if (neg) passes.push({ name: "neg", context: neg.video.data });
    if (scales.stg !== 0)
      passes.push({
        name: "stg",
        context: pos.video.data,
        perturbations: { skipVideoSelfAttention: [stgBlockFor(config.numLayers)] },
      });
    if (scales.modality !== 1)
      passes.push({
        name: "mod",
        context: pos.video.data,
        perturbations: { skipAudioToVideo: allBlocks, skipVideoToAudio: allBlocks },
      });

    const forward = async (
      video: ModalityInput,
      audioIn: ModalityInput,
      perturbations: Perturbations | readonly Perturbations[] | undefined,
    ): Promise<Float32Array> => {
      const out = noGrad(() => scope(() => ltxForward(backend, config, video, audioIn, { lora, perturbations })));
      try {
        return (await out.video.toArray()) as Float32Array;
      } finally {
        out.video.dispose();
        out.audio.dispose();
      }
    };
    // Batched: the passes share x, σ, positions and the audio, and differ in text context and perturbations.
    const batched =
      (this.options.batchGuidance ?? true) &&
      passes.length > 1 &&
      passes.every((p) => p.context.length === passes[0]!.context.length);
    const n = passes.length;
    const batchAudio: ModalityInput = {
      ...audio,
      batch: n,
      tokens: repeat(audio.tokens, n),
      context: repeat(audio.context, n),
    };
    const batchContext = concatenate(passes.map((p) => p.context));
    const batchPerturbations = passes.map((p) => p.perturbations ?? {});

    for (let k = 0; k < steps; k++) {
      if (options.signal?.aborted)
        throw new A2VError("aborted", `validation sampling stopped at step ${k} of ${steps}`, { status: 499 });
      const sigma = sigmas[k]!;
      const sigmaNext = sigmas[k + 1]!;
      const timesteps = new Float32Array(tokens).fill(Math.fround(sigma), tokensPerFrame);
      const x0: Partial<Record<"pos" | "neg" | "stg" | "mod", Float32Array>> = {};
      if (batched) {
        const video: ModalityInput = {
          tokens: repeat(x, n),
          batch: n,
          timesteps,
          sigma,
          positions,
          context: batchContext,
        };
        const v = await forward(video, batchAudio, batchPerturbations);
        passes.forEach((pass, j) => {
          x0[pass.name] = x0FromVelocity(x, v.subarray(j * x.length, (j + 1) * x.length), timesteps, channels);
        });
      } else {
        for (const pass of passes) {
          const video: ModalityInput = { tokens: x, timesteps, sigma, positions, context: pass.context };
          x0[pass.name] = x0FromVelocity(x, await forward(video, audio, pass.perturbations), timesteps, channels);
        }
      }
      const { guided } = guide({ pos: x0.pos!, neg: x0.neg, stg: x0.stg, mod: x0.mod }, scales);
      // Conditioning re-applied (denoise mask 0 on the start frame), then Euler; the start frame is copied, not stepped.
      guided.set(cond.imageTokens, 0);
      const next = eulerStep(x, guided, sigma, sigmaNext);
      next.set(cond.imageTokens, 0);
      x = next;
      options.onStep?.({ step: k + 1, steps, sigma, sigmaNext, tokens: x });
    }
    const denoiseDone = performance.now();

    const latent = hostTensor([channels, grid.frames, grid.height, grid.width], unpatchifyVideo(x, channels, grid));
    this.decoder ??= await loadModelVideoVae(this.model, { decoder: true });
    const decoder = this.decoder;
    let decoded: HostTensor;
    try {
      decoded = await decodeTiledInTime(
        decoder,
        hostTensor([1, ...latent.shape], latent.data),
        videoScaleFactors(this.model.videoVae).time,
        request.temporalTiling ?? DEFAULT_TEMPORAL_TILING,
        request.tiling ?? DEFAULT_SPATIAL_TILING,
      );
    } finally {
      if (!this.options.keepResident) {
        this.decoder.dispose();
        this.decoder = undefined;
      }
    }
    const frames = unitRgbToFrames(decodedToUnitRgb(decoded));
    const decodeDone = performance.now();

    const file = resolve(outFile);
    await mkdir(dirname(file), { recursive: true });
    await writePreviewMp4(
      frames,
      request.bucket.width,
      request.bucket.height,
      request.fps,
      { pcm: cond.pcm, sampleRate: CONDITIONING_SAMPLE_RATE },
      file,
    );
    const done = performance.now();
    return {
      file,
      latent,
      sigmas: Array.from(sigmas),
      passesPerStep: passes.length,
      passesPerForward: batched ? passes.length : 1,
      seconds: {
        conditioning: (conditioningDone - started) / 1000,
        denoise: (denoiseDone - conditioningDone) / 1000,
        decode: (decodeDone - denoiseDone) / 1000,
        encode: (done - decodeDone) / 1000,
        total: (done - started) / 1000,
      },
    };
  }

  /** Frees whatever is still on the GPU (resident encoders and decoder) and forgets the cached conditionings. */
  async dispose(): Promise<void> {
    this.decoder?.dispose();
    this.decoder = undefined;
    const prompts = this.prompts;
    this.prompts = undefined;
    if (prompts) (await prompts.catch(() => undefined))?.dispose();
    this.contexts.clear();
    this.conditionings.clear();
  }
}

/** `times` copies of `values`, one after another. */
function repeat(values: Float32Array, times: number): Float32Array {
  const out = new Float32Array(values.length * times);
  for (let i = 0; i < times; i++) out.set(values, i * values.length);
  return out;
}

function concatenate(parts: readonly Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
