import { join } from "node:path";
import {
  AudioEncoder,
  CaptionCache,
  type CaptionFeatures,
  encodeCaption,
  Gemma,
  GemmaPromptTokenizer,
  type LtxModel,
  loadAudioEncoder,
  loadEmbeddingsProcessor,
  loadVideoVae,
  openShardedWeights,
  TextPath,
  VideoVae,
} from "@a2v/ltx-model";
import { type Device, type HostTensor, hostTensor, init, type Tensor, tensor } from "@a2v/tensor-webgpu";

/**
 * The model's frozen encoders, loaded one way for every user: `SampleEncoder` (training examples) and the validation
 * sampler (start images, conditioning audio, prompts) share these loaders, so both see the same weights, the same
 * caption cache and the same contexts.
 */

/** Caption tokens: upstream pads every prompt to 1024 Gemma tokens. */
export const CAPTION_MAX_TOKENS = 1024;

/** The model's video VAE encoder and/or decoder on `device`, the GPU by default (weights read lazily from its checkpoint). */
export async function loadModelVideoVae(
  model: LtxModel,
  parts: { encoder?: boolean; decoder?: boolean },
  options: { device?: Device } = {},
): Promise<VideoVae> {
  const file = model.paths.checkpoint;
  return VideoVae.create(
    {
      encoder: parts.encoder ? await loadVideoVae("encoder", model.checkpoint, model.videoVae, file) : undefined,
      decoder: parts.decoder ? await loadVideoVae("decoder", model.checkpoint, model.videoVae, file) : undefined,
    },
    options,
  );
}

/** The model's audio VAE encoder on `device`, the GPU by default. */
export async function loadModelAudioEncoder(model: LtxModel, options: { device?: Device } = {}): Promise<AudioEncoder> {
  return AudioEncoder.create(await loadAudioEncoder(model.checkpoint, model.audioVae, model.paths.checkpoint), options);
}

/** Runs an encoder on a host input and brings the result back to the host, freeing both GPU tensors. */
export async function onGpu(input: HostTensor, run: (x: Tensor) => Promise<Tensor>): Promise<HostTensor> {
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

/** The text contexts the DiT cross-attends to, for one prompt: `[L, crossAttentionDim]` and `[L, audioCrossAttentionDim]`. */
export interface PromptContexts {
  video: HostTensor;
  audio: HostTensor;
}

/**
 * Gemma 3 → feature extractor V2 → connectors on the GPU. `features` is cached on disk per (model, text) under
 * `cacheDir/captions` (`CaptionCache`), so a prompt seen before skips Gemma; `contexts` runs the connectors.
 */
export class PromptEncoder {
  private constructor(
    private readonly tokenizer: GemmaPromptTokenizer,
    private readonly gemma: Gemma,
    readonly textPath: TextPath,
    private readonly captions: CaptionCache,
    private readonly modelId: string,
  ) {}

  static async create(model: LtxModel, cacheDir: string): Promise<PromptEncoder> {
    await init();
    const textWeights = await loadEmbeddingsProcessor(model.checkpoint, model.text, model.paths.checkpoint);
    const gemmaSource = await openShardedWeights(model.paths.textEncoder);
    try {
      return new PromptEncoder(
        await GemmaPromptTokenizer.fromFolder(model.paths.textEncoder, CAPTION_MAX_TOKENS),
        await Gemma.load(gemmaSource, model.gemma, model.paths.textEncoder),
        await TextPath.create(model.text, textWeights),
        new CaptionCache(join(cacheDir, "captions")),
        model.id,
      );
    } finally {
      await gemmaSource.close();
    }
  }

  /** Tokens → Gemma → feature extractor V2 (cached). */
  features(text: string): Promise<CaptionFeatures> {
    return encodeCaption(text, {
      tokenizer: this.tokenizer,
      gemma: this.gemma,
      textPath: this.textPath,
      cache: this.captions,
      modelId: this.modelId,
    });
  }

  /** The connectors' video and audio contexts of a prompt (batch dimension dropped). */
  async contexts(text: string): Promise<PromptContexts> {
    const features = await this.features(text);
    const tokens = features.mask.shape[0]!;
    const batched = (t: HostTensor) => hostTensor([1, ...t.shape], t.data);
    const contexts = await this.textPath.createEmbeddings(
      batched(features.video),
      batched(features.audio),
      hostTensor([1, tokens], features.mask.data),
    );
    return {
      video: hostTensor(contexts.video.shape.slice(1), contexts.video.data),
      audio: hostTensor(contexts.audio.shape.slice(1), contexts.audio.data),
    };
  }

  dispose(): void {
    this.gemma.dispose();
    this.textPath.dispose();
  }
}
