import { join } from "node:path";
import {
  audioEncoderInput,
  CaptionCache,
  encodeCaption,
  GemmaPromptTokenizer,
  GpuAudioEncoder,
  GpuGemma,
  GpuTextPath,
  GpuVideoVae,
  hostTensor,
  type LtxModel,
  loadAudioEncoder,
  loadEmbeddingsProcessor,
  loadVideoVae,
  openShardedWeights,
  videoFromRgbFrames,
} from "@a2v/ltx-model";
import { init, type Tensor, tensor } from "@a2v/tensor-webgpu";
import type { TrainingExample } from "../loop/examples.js";

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

/** Runs an encoder on a host input and brings the result back for the latent cache, freeing both GPU tensors. */
async function onGpu(
  input: { shape: number[]; data: Float32Array },
  run: (x: Tensor) => Promise<Tensor>,
): Promise<{ shape: number[]; data: Float32Array }> {
  const x = tensor(input.data, input.shape);
  try {
    const y = await run(x);
    try {
      return { shape: [...y.shape], data: (await y.toArray()) as Float32Array };
    } finally {
      y.dispose();
    }
  } finally {
    x.dispose();
  }
}

/** Caption tokens: upstream pads every prompt to 1024 Gemma tokens. */
export const CAPTION_MAX_TOKENS = 1024;

/**
 * The frozen encoders of one model, resident on the GPU while a dataset is encoded: video VAE encoder (the first
 * latent frame comes from frame 0, the start image, as the causal VAE encodes it alone), audio VAE encoder on the
 * log-mel of the fitted audio, and Gemma 3 → feature extractor V2 → connectors for the caption. `dispose()` frees
 * them before training, so the transformer gets the memory.
 */
export class SampleEncoder {
  private constructor(
    private readonly video: GpuVideoVae,
    private readonly audio: GpuAudioEncoder,
    private readonly tokenizer: GemmaPromptTokenizer,
    private readonly gemma: GpuGemma,
    private readonly textPath: GpuTextPath,
    private readonly captions: CaptionCache,
    private readonly modelId: string,
  ) {}

  /** Loads the encoders from `model`; encoded captions are cached under `cacheDir`. */
  static async create(model: LtxModel, cacheDir: string): Promise<SampleEncoder> {
    await init();
    const file = model.paths.checkpoint;
    const videoWeights = await loadVideoVae("encoder", model.checkpoint, model.videoVae, file);
    const audioWeights = await loadAudioEncoder(model.checkpoint, model.audioVae, file);
    const textWeights = await loadEmbeddingsProcessor(model.checkpoint, model.text, file);
    const gemmaSource = await openShardedWeights(model.paths.textEncoder);
    try {
      return new SampleEncoder(
        await GpuVideoVae.create({ encoder: videoWeights }),
        await GpuAudioEncoder.create(audioWeights),
        await GemmaPromptTokenizer.fromFolder(model.paths.textEncoder, CAPTION_MAX_TOKENS),
        await GpuGemma.load(gemmaSource, model.gemma, model.paths.textEncoder),
        await GpuTextPath.create(model.text, textWeights),
        new CaptionCache(join(cacheDir, "captions")),
        model.id,
      );
    } finally {
      await gemmaSource.close();
    }
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
    const features = await encodeCaption(sample.caption, {
      tokenizer: this.tokenizer,
      gemma: this.gemma,
      textPath: this.textPath,
      cache: this.captions,
      modelId: this.modelId,
    });
    const tokens = features.mask.shape[0]!;
    const batched = (t: { shape: number[]; data: Float32Array }) => hostTensor([1, ...t.shape], t.data);
    const contexts = await this.textPath.createEmbeddings(
      batched(features.video),
      batched(features.audio),
      hostTensor([1, tokens], features.mask.data),
    );
    return {
      videoLatents: { shape: latent.shape.slice(1), data: latent.data },
      audioLatents: { shape: audioLatent.shape.slice(1), data: audioLatent.data },
      videoContext: { shape: contexts.video.shape.slice(1), data: contexts.video.data },
      audioContext: { shape: contexts.audio.shape.slice(1), data: contexts.audio.data },
      fps: sample.fps,
    };
  }

  dispose(): void {
    this.video.dispose();
    this.audio.dispose();
    this.gemma.dispose();
    this.textPath.dispose();
  }
}
