import { gather, type Tensor } from "../tensor.js";

export interface AdamWStep {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  /** Step number, from 1 (bias corrections 1 − βᵗ). */
  t: number;
  maxGradNorm: number | undefined;
}

/**
 * One AdamW update on the CPU device, in place over each parameter's host values (contiguous f32, not
 * packed) and the moments `m`/`v` (packed in parameter order, parameter k at `offsets[k]`). The same
 * math as the fused GPU kernel in f64: optional global-norm clipping, decoupled weight decay, bias
 * correction. `grads[k]` undefined counts as zero. Returns the squared global norm when clipping.
 */
export function cpuAdamWStep(
  params: readonly Tensor[],
  grads: ReadonlyArray<Tensor | undefined>,
  offsets: readonly number[],
  m: Float64Array,
  v: Float64Array,
  h: AdamWStep,
): number | undefined {
  const values = grads.map((g) => (g ? gather(g) : undefined));
  let normSq: number | undefined;
  let clip = 1;
  if (h.maxGradNorm !== undefined) {
    normSq = 0;
    for (const g of values) if (g) for (let i = 0; i < g.length; i++) normSq += g[i]! * g[i]!;
    const norm = Math.sqrt(normSq);
    if (norm > h.maxGradNorm) clip = h.maxGradNorm / (norm + 1e-6);
  }
  const { lr, beta1: b1, beta2: b2, eps, weightDecay: wd } = h;
  const bc1 = 1 - b1 ** h.t;
  const bc2 = 1 - b2 ** h.t;
  params.forEach((p, k) => {
    const data = p.host;
    const base = p.offset;
    const at = offsets[k]!;
    const g = values[k];
    for (let i = 0; i < p.size; i++) {
      const gi = (g ? g[i]! : 0) * clip;
      const mi = b1 * m[at + i]! + (1 - b1) * gi;
      const vi = b2 * v[at + i]! + (1 - b2) * gi * gi;
      m[at + i] = mi;
      v[at + i] = vi;
      const denom = Math.sqrt(vi / bc2) + eps;
      data[base + i] = data[base + i]! * (1 - lr * wd) - (lr * (mi / bc1)) / denom;
    }
  });
  return normSq;
}
