import type { Backend } from "./backend.js";
import type { LtxTransformerConfig } from "./config.js";
import { audioPositions, type VideoLatentGrid, videoPositions } from "./positions.js";
import { type ForwardOptions, ltxForward, type ModalityInput } from "./transformer.js";

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

/** Forward plus the masked video MSE (upstream `_compute_modality_loss`); audio has no loss. */
export function a2vLoss<T>(
  b: Backend<T>,
  config: LtxTransformerConfig,
  step: A2VPreparedStep,
  options: ForwardOptions = {},
): { video: T; audio: T; loss: T } {
  const { video, audio } = ltxForward(b, config, step.video, step.audio, options);
  const target = b.constant(step.targets, step.lossMask.length, config.outChannels);
  return { video, audio, loss: b.maskedMse(video, target, step.lossMask) };
}
