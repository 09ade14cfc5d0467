import type { Rng } from "./random.js";
import { tokenShift } from "./schedules.js";

/**
 * The training timestep sampler of ltx-trainer (`ShiftedLogitNormalTimestepSampler`): a logit-normal whose mean
 * shifts with the video token count, stretched between its 0.5th and 99.9th percentiles, reflected at eps, and
 * mixed with 10% uniform draws so every noise level keeps being trained.
 */
export interface TimestepSamplerOptions {
  std?: number;
  eps?: number;
  uniformProb?: number;
}

const P999_Z = 3.0902;
const P005_Z = -2.5758;

const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));

/** The three intermediate stages for given draws, exposed so parity with the official sampler is testable. */
export interface TimestepDraw {
  logitNormal: number;
  stretched: number;
  sample: number;
}

export class ShiftedLogitNormalSampler {
  readonly std: number;
  readonly eps: number;
  readonly uniformProb: number;

  constructor(options: TimestepSamplerOptions = {}) {
    this.std = options.std ?? 1;
    this.eps = options.eps ?? 1e-3;
    this.uniformProb = options.uniformProb ?? 0.1;
  }

  /** Maps one normal draw `z`, one uniform `u` and one mixing draw `q` (all from the caller) to a timestep. */
  map(seqLength: number, z: number, u: number, q: number): TimestepDraw {
    const mu = tokenShift(seqLength);
    const logitNormal = sigmoid(z * this.std + mu);
    // The official code rounds these percentile arguments to float32 before the sigmoid.
    const p999 = sigmoid(Math.fround(mu + P999_Z * this.std));
    const p005 = sigmoid(Math.fround(mu + P005_Z * this.std));
    let r = (logitNormal - p005) / (p999 - p005);
    if (r < this.eps) r = 2 * this.eps - r;
    const stretched = Math.min(1, Math.max(0, r));
    const sample = q > this.uniformProb ? stretched : (1 - this.eps) * u + this.eps;
    return { logitNormal, stretched, sample };
  }

  /** One timestep (= sigma) in (0, 1] for a video of `seqLength` latent tokens. */
  sample(seqLength: number, rng: Rng): number {
    const z = rng.normal();
    const u = rng.uniform();
    const q = rng.uniform();
    return this.map(seqLength, z, u, q).sample;
  }
}
