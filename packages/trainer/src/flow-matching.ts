import { A2VError } from "@a2v/errors";

/**
 * Rectified-flow training targets for audio-to-video (ltx-trainer `training_strategies`): the video is noised as
 * x_t = (1 − σ)·x0 + σ·noise and the model learns the velocity noise − x0. The first latent frame (the start
 * image) stays clean, gets timestep 0 and is excluded from the loss; audio is frozen conditioning (σ 0, no loss).
 * Token layout: [tokens, channels] row-major, tokens ordered (frame, height, width).
 */
export interface A2VTrainingTokens {
  /** Model input: noised video tokens, first frame clean. */
  noisy: Float32Array;
  /** Velocity target noise − clean for every token. */
  targets: Float32Array;
  /** Per-token timestep: 0 on the conditioning frame, σ elsewhere. */
  timesteps: Float32Array;
  /** Per-token loss weight: 0 on the conditioning frame, 1 elsewhere. */
  lossMask: Float32Array;
}

export interface A2VTrainingOptions {
  /** Tokens in one latent frame (latent height × width at patch size 1). */
  tokensPerFrame: number;
  channels: number;
  /** Hold the first latent frame clean as the start image (the a2v service always does). */
  conditionFirstFrame?: boolean;
}

export function a2vTrainingTokens(
  clean: Float32Array,
  noise: Float32Array,
  sigma: number,
  options: A2VTrainingOptions,
): A2VTrainingTokens {
  const { tokensPerFrame, channels } = options;
  if (clean.length !== noise.length || clean.length % channels !== 0) {
    throw new A2VError(
      "latent_shape_mismatch",
      `clean (${clean.length}) and noise (${noise.length}) must be equal multiples of ${channels}`,
      { status: 422 },
    );
  }
  const tokens = clean.length / channels;
  const conditioned = options.conditionFirstFrame === false ? 0 : Math.min(tokensPerFrame, tokens);
  const noisy = new Float32Array(clean.length);
  const targets = new Float32Array(clean.length);
  const timesteps = new Float32Array(tokens);
  const lossMask = new Float32Array(tokens);
  for (let t = 0; t < tokens; t++) {
    const isCondition = t < conditioned;
    timesteps[t] = isCondition ? 0 : sigma;
    lossMask[t] = isCondition ? 0 : 1;
    for (let c = t * channels; c < (t + 1) * channels; c++) {
      noisy[c] = isCondition ? clean[c]! : (1 - sigma) * clean[c]! + sigma * noise[c]!;
      targets[c] = noise[c]! - clean[c]!;
    }
  }
  return { noisy, targets, timesteps, lossMask };
}

/** Mean squared error over the tokens with mask 1 and all their channels (the official masked MSE). */
export function maskedMse(pred: Float32Array, target: Float32Array, mask: Float32Array, channels: number): number {
  let sum = 0;
  let count = 0;
  for (let t = 0; t < mask.length; t++) {
    if (mask[t] === 0) continue;
    for (let c = t * channels; c < (t + 1) * channels; c++) sum += mask[t]! * (pred[c]! - target[c]!) ** 2;
    count += channels;
  }
  return count === 0 ? 0 : sum / count;
}
