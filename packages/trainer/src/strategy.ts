import {
  audioPositions,
  type ForwardOptions,
  type LtxTransformer,
  type LtxTransformerConfig,
  ltxForward,
  type ModalityInput,
  type VideoLatentGrid,
  videoPositions,
} from "@a2v/ltx-model";
import { backward, mseLoss, scope, type Tensor } from "@a2v/tensor-webgpu";

const f32 = Math.fround;

/** Host-side inputs of one audio-to-video training step (batch 1). */
export interface A2VStepData {
  /** Clean video latent tokens `[Tv, C]` (patchified, normalised VAE means). */
  videoClean: Float32Array;
  /** Gaussian noise `[Tv, C]`. */
  noise: Float32Array;
  /** σ drawn by the timestep sampler. */
  sigma: number;
  grid: VideoLatentGrid;
  fps: number;
  /** Clean audio latent tokens `[Ta, audio_in]` (frozen conditioning). */
  audioClean: Float32Array;
  videoContext: Float32Array;
  audioContext: Float32Array;
  /** Keep the first latent frame clean (start image): timestep 0, no loss. Default true. */
  firstFrameCondition?: boolean;
}

/** What the step feeds the model, and what the loss compares against. */
export interface A2VPreparedStep {
  video: ModalityInput;
  audio: ModalityInput;
  /** noise − clean, `[Tv, C]`. */
  targets: Float32Array;
  /** 1 on generated tokens, 0 on conditioning tokens, `[Tv]`. */
  lossMask: Float32Array;
}

/**
 * The audio-to-video training strategy, once: what one step feeds the model (noised video with the start
 * image held clean, frozen audio) and the loss it is trained on.
 *
 * Flow matching as upstream's FlexibleStrategy does it, in float32: x_t = (1−σ)·x0 + σ·ε,
 * target ε − x0; the first H·W tokens keep x0 with timestep 0 and no loss; audio is clean, σ 0.
 */
export function prepareA2VStep(config: LtxTransformerConfig, data: A2VStepData): A2VPreparedStep {
  const channels = config.inChannels;
  const tokens = data.videoClean.length / channels;
  const sigma = f32(data.sigma);
  const keep = f32(1 - sigma);
  const conditioned = data.firstFrameCondition === false ? 0 : data.grid.height * data.grid.width;
  const noisy = new Float32Array(data.videoClean.length);
  const targets = new Float32Array(data.videoClean.length);
  for (let i = 0; i < noisy.length; i++) {
    const x0 = data.videoClean[i]!;
    const eps = data.noise[i]!;
    noisy[i] = Math.floor(i / channels) < conditioned ? x0 : f32(f32(keep * x0) + f32(sigma * eps));
    targets[i] = f32(eps - x0);
  }
  const timesteps = new Float32Array(tokens);
  const lossMask = new Float32Array(tokens);
  for (let t = conditioned; t < tokens; t++) {
    timesteps[t] = sigma;
    lossMask[t] = 1;
  }
  const audioTokens = data.audioClean.length / config.audioInChannels;
  return {
    video: {
      tokens: noisy,
      timesteps,
      sigma,
      positions: videoPositions(data.grid, data.fps),
      context: data.videoContext,
    },
    audio: {
      tokens: data.audioClean,
      timesteps: new Float32Array(audioTokens),
      sigma: 0,
      positions: audioPositions(audioTokens),
      context: data.audioContext,
    },
    targets,
    lossMask,
  };
}

/** Forward plus the masked video MSE; audio has no loss. */
export function a2vLoss(
  b: LtxTransformer,
  config: LtxTransformerConfig,
  step: A2VPreparedStep,
  options: ForwardOptions = {},
): { video: Tensor; audio: Tensor; loss: Tensor } {
  const { video, audio } = ltxForward(b, config, step.video, step.audio, options);
  const tokens = step.lossMask.length;
  const target = b.constant(step.targets, tokens, config.outChannels);
  // Upstream `_compute_modality_loss`: Σ mask·(pred − target)² over tokens and channels / Σ mask over the same.
  return { video, audio, loss: mseLoss(video, target, b.constant(step.lossMask, tokens, 1)) };
}

/** Host results of one step. */
export interface A2VStepResult {
  video: Float32Array;
  audio: Float32Array;
  loss: number;
}

export type A2VStepOptions = ForwardOptions & { train?: boolean };

/**
 * One audio-to-video training step: forward, masked loss and (with `train`) backward into the LoRA
 * parameters' `grad`, all in one `scope()` so gradient-checkpoint recomputation still finds the per-step
 * tensors (AdaLN values, RoPE tables) it closes over. `read` takes what the caller needs to the host
 * before the step's tensors are freed.
 */
async function runA2VStep<R>(
  b: LtxTransformer,
  config: LtxTransformerConfig,
  step: A2VPreparedStep,
  options: A2VStepOptions,
  read: (out: { video: Tensor; audio: Tensor; loss: Tensor }) => Promise<R>,
): Promise<R> {
  const out = scope(() => {
    const result = a2vLoss(b, config, step, options);
    if (options.train) backward(result.loss);
    return result;
  });
  try {
    return await read(out);
  } finally {
    for (const t of Object.values(out)) t.dispose();
  }
}

/** `runA2VStep` with the predictions and the loss read back (parity checks, sampling). */
export function a2vStep(
  b: LtxTransformer,
  config: LtxTransformerConfig,
  step: A2VPreparedStep,
  options: A2VStepOptions = {},
): Promise<A2VStepResult> {
  return runA2VStep(b, config, step, options, async (out) => {
    const [video, audio, loss] = await Promise.all([out.video.toArray(), out.audio.toArray(), out.loss.item()]);
    return { video: video as Float32Array, audio: audio as Float32Array, loss };
  });
}

/** `runA2VStep` reading back one number, the loss: what a training step needs from the device. */
export function a2vStepLoss(
  b: LtxTransformer,
  config: LtxTransformerConfig,
  step: A2VPreparedStep,
  options: A2VStepOptions = {},
): Promise<number> {
  return runA2VStep(b, config, step, options, (out) => out.loss.item());
}
