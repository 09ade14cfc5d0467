import { A2VError } from "@a2v/errors";

/**
 * Validation-sampling math of ltx-trainer (`MultiModalGuider.calculate` + `EulerDiffusionStep`): combine the four
 * denoised predictions (positive, negative prompt, STG-perturbed, modality-isolated), rescale towards the positive
 * prediction's spread, and take one Euler step.
 */
export interface GuidanceScales {
  /** Classifier-free guidance scale (1 = off). */
  cfg: number;
  /** Spatio-temporal guidance scale (0 = off). */
  stg: number;
  /** Modality guidance scale (1 = off). */
  modality: number;
  /** Guidance rescale in [0, 1] (0 = off). */
  rescale: number;
}

export interface GuidancePredictions {
  pos: Float32Array;
  neg?: Float32Array;
  stg?: Float32Array;
  mod?: Float32Array;
}

export interface GuidanceResult {
  unrescaled: Float32Array;
  rescaleFactor: number;
  guided: Float32Array;
}

/** Unbiased (N − 1) standard deviation over all elements, accumulated in float64. */
export function stdAll(x: Float32Array): number {
  let mean = 0;
  for (let i = 0; i < x.length; i++) mean += x[i]!;
  mean /= x.length;
  let ss = 0;
  for (let i = 0; i < x.length; i++) ss += (x[i]! - mean) ** 2;
  return Math.sqrt(ss / (x.length - 1));
}

export function guide(p: GuidancePredictions, s: GuidanceScales): GuidanceResult {
  const n = p.pos.length;
  const need = (name: keyof GuidancePredictions, used: boolean) => {
    const value = p[name];
    if (used && (!value || value.length !== n))
      throw new A2VError("guidance_prediction_missing", `guidance needs a "${name}" prediction of ${n} values`, {
        status: 422,
      });
    return value;
  };
  const neg = need("neg", s.cfg !== 1);
  const stg = need("stg", s.stg !== 0);
  const mod = need("mod", s.modality !== 1);
  const unrescaled = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const pos = p.pos[i]!;
    let g = pos;
    if (neg) g += (s.cfg - 1) * (pos - neg[i]!);
    if (stg) g += s.stg * (pos - stg[i]!);
    if (mod) g += (s.modality - 1) * (pos - mod[i]!);
    unrescaled[i] = g;
  }
  if (s.rescale === 0) return { unrescaled, rescaleFactor: 1, guided: unrescaled.slice() };
  const rescaleFactor = s.rescale * (stdAll(p.pos) / stdAll(unrescaled)) + (1 - s.rescale);
  const guided = new Float32Array(n);
  for (let i = 0; i < n; i++) guided[i] = unrescaled[i]! * rescaleFactor;
  return { unrescaled, rescaleFactor, guided };
}

/** The denoised estimate from a velocity prediction: x0 = x_t − v·t (t = per-token timestep). */
export function x0FromVelocity(
  xt: Float32Array,
  velocity: Float32Array,
  timesteps: Float32Array,
  channels: number,
): Float32Array {
  const out = new Float32Array(xt.length);
  for (let i = 0; i < xt.length; i++) out[i] = xt[i]! - velocity[i]! * timesteps[Math.floor(i / channels)]!;
  return out;
}

/** One Euler step of the flow ODE from sigma to sigmaNext given the denoised estimate x0. */
export function eulerStep(xt: Float32Array, x0: Float32Array, sigma: number, sigmaNext: number): Float32Array {
  const out = new Float32Array(xt.length);
  const dt = sigmaNext - sigma;
  for (let i = 0; i < xt.length; i++) out[i] = xt[i]! + ((xt[i]! - x0[i]!) / sigma) * dt;
  return out;
}
