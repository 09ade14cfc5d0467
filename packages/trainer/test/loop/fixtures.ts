import { LTX_TINY, type LtxTransformerConfig, numel, transformerParameters } from "@a2v/ltx-model";
import { MemoryWeights } from "@a2v/ltx-model/weights";
import type { HostTensor } from "@a2v/tensor-webgpu";
import type { TrainingExample } from "../../src/loop/examples.js";
import { createRng } from "../../src/random.js";

/**
 * The tiny preset (2 layers) with the video stream as wide as the 128 latent channels, so its output is not a
 * 32-dimensional projection and overfitting one clip shows up in the loss; a step takes ~0.1 s on lavapipe.
 */
export const TINY: LtxTransformerConfig = {
  ...LTX_TINY,
  numAttentionHeads: 4,
  attentionHeadDim: 32,
  crossAttentionDim: 128,
};

/** Deterministic base weights in the model's layout: norms 1, everything else ~ U(±1/√fan_in) like PyTorch init. */
export function tinyWeights(
  config: LtxTransformerConfig = TINY,
  seed = 7,
): Map<string, { shape: number[]; data: Float32Array }> {
  const rng = createRng(seed);
  const out = new Map<string, { shape: number[]; data: Float32Array }>();
  for (const spec of transformerParameters(config)) {
    const data = new Float32Array(numel(spec.shape));
    const norm = spec.key.endsWith("norm.weight");
    const bound = 1 / Math.sqrt(spec.shape.length === 2 ? spec.shape[1]! : 1);
    for (let i = 0; i < data.length; i++) data[i] = norm ? 1 : (2 * rng.uniform() - 1) * bound;
    out.set(spec.key, { shape: spec.shape, data });
  }
  return out;
}

export const tinySource = (config: LtxTransformerConfig = TINY) => new MemoryWeights(tinyWeights(config));

function gaussian(shape: number[], seed: number): HostTensor {
  return { shape, data: createRng(seed).fillNormal(new Float32Array(numel(shape))) };
}

/**
 * A 2-latent-frame 2×2 clip (4 generated tokens), 4 audio frames, 3-token contexts. `still` makes every token the
 * same latent (a static shot): a target the LoRA can memorise within a few steps.
 */
export function tinyExample(seed: number, config: LtxTransformerConfig = TINY, still = false): TrainingExample {
  const video = gaussian([config.inChannels, 2, 2, 2], seed);
  const first = video.data.slice();
  if (still) for (let i = 0; i < first.length; i++) video.data[i] = first[i - (i % 8)]!;
  return {
    videoLatents: video,
    audioLatents: gaussian([8, 4, config.audioInChannels / 8], seed + 1),
    videoContext: gaussian([3, config.crossAttentionDim], seed + 2),
    audioContext: gaussian([3, config.audioCrossAttentionDim], seed + 3),
    fps: 24,
  };
}
