import { type AudioEncoder, audioEncoderInput, type LtxModel, type VideoVae, videoFromRgbFrames } from "@a2v/ltx-model";
import type { TrainingExample } from "../loop/examples.js";
import { loadModelAudioEncoder, loadModelVideoVae, onGpu, PromptEncoder } from "./encoders.js";

export { CAPTION_MAX_TOKENS } from "./encoders.js";

/** What the encoders need of a preprocessed sample (`@a2v/dataset`'s `TrainingSample` is one). */
export interface EncodableSample {
  /** uint8 RGB [frames, height, width, 3]; frame 0 is the start image. */
  pixels: Uint8Array;
  frames: number;
  width: number;
  height: number;
  fps: number;
  /** Planar PCM, one array per channel. */
  audio: Float32Array[];
  sampleRate: number;
  /** Final caption (trigger phrase included). */
  caption: string;
}

/**
 * The frozen encoders of one model, resident on the GPU while a dataset is encoded: video VAE encoder (the first
 * latent frame comes from frame 0, the start image, as the causal VAE encodes it alone), audio VAE encoder on the
 * log-mel of the fitted audio, and Gemma 3 → feature extractor V2 → connectors for the caption. `dispose()` frees
 * them before training, so the transformer gets the memory.
 */
export class SampleEncoder {
  private constructor(
    private readonly video: VideoVae,
    private readonly audio: AudioEncoder,
    private readonly prompts: PromptEncoder,
  ) {}

  /** Loads the encoders from `model`; encoded captions are cached under `cacheDir`. */
  static async create(model: LtxModel, cacheDir: string): Promise<SampleEncoder> {
    return new SampleEncoder(
      await loadModelVideoVae(model, { encoder: true }),
      await loadModelAudioEncoder(model),
      await PromptEncoder.create(model, cacheDir),
    );
  }

  async encode(sample: EncodableSample): Promise<TrainingExample> {
    const frameBytes = sample.width * sample.height * 3;
    const frames = Array.from({ length: sample.frames }, (_, f) =>
      sample.pixels.subarray(f * frameBytes, (f + 1) * frameBytes),
    );
    const latent = await onGpu(videoFromRgbFrames(frames, sample.width, sample.height), (x) =>
      this.video.encodeTiled(x),
    );
    const audioLatent = await onGpu(audioEncoderInput(sample.audio, sample.sampleRate), async (x) =>
      this.audio.encode(x),
    );
    const contexts = await this.prompts.contexts(sample.caption);
    return {
      videoLatents: { shape: latent.shape.slice(1), data: latent.data },
      audioLatents: { shape: audioLatent.shape.slice(1), data: audioLatent.data },
      videoContext: contexts.video,
      audioContext: contexts.audio,
      fps: sample.fps,
    };
  }

  dispose(): void {
    this.video.dispose();
    this.audio.dispose();
    this.prompts.dispose();
  }
}
