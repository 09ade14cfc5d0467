import type { Tensor } from "../tensor.js";
import { asNd, copyInto, fromNd } from "./host.js";
import * as ref from "./reference.js";

/**
 * The CPU device's normalisation, attention and RoPE kernels: the f64 reference math (`reference.ts`)
 * on the inputs' values (any strides), wrapped as CPU tensors of the dtypes the GPU kernels produce.
 */

/** Softmax over the last axis (f32 result). */
export function cpuSoftmax(x: Tensor): Tensor {
  return fromNd(ref.softmax(asNd(x)));
}

/** 1/sqrt(f(row) + eps) per row of the last axis, shape [..., 1]. */
function rowRstd(x: ref.Nd, eps: number, f: (row: Float64Array) => number): ref.Nd {
  const L = x.shape[x.shape.length - 1]!;
  const n = L ? x.data.length / L : ref.numel(x.shape.slice(0, -1));
  const data = new Float64Array(n);
  for (let r = 0; r < n; r++) data[r] = 1 / Math.sqrt(f(x.data.subarray(r * L, r * L + L)) + eps);
  return { data, shape: [...x.shape.slice(0, -1), 1] };
}

const meanSquare = (row: Float64Array): number => row.reduce((p, v) => p + v * v, 0) / row.length;
const variance = (row: Float64Array): number => {
  const mu = row.reduce((p, v) => p + v, 0) / row.length;
  return row.reduce((p, v) => p + (v - mu) ** 2, 0) / row.length;
};

/** RMSNorm over the last axis: [out, rstd] (both f32; rstd [..., 1] for the backward). */
export function cpuRmsNorm(x: Tensor, weight: Tensor | undefined, eps: number, onePlus: boolean): [Tensor, Tensor] {
  const xs = asNd(x);
  const out = ref.rmsNorm(xs, weight ? asNd(weight) : undefined, eps, onePlus);
  return [fromNd(out), fromNd(rowRstd(xs, eps, meanSquare))];
}

/** LayerNorm (no affine) over the last axis: [out, rstd] (both f32). */
export function cpuLayerNorm(x: Tensor, eps: number): [Tensor, Tensor] {
  const xs = asNd(x);
  return [fromNd(ref.layerNorm(xs, eps)), fromNd(rowRstd(xs, eps, variance))];
}

/**
 * RoPE (f32 result); `inverse` rotates by −θ (the backward: the transpose of a rotation), i.e. the
 * forward rotation with sin negated. cos and sin broadcast to [..., dh/2].
 */
export function cpuRope(
  x: Tensor,
  cos: Tensor,
  sin: Tensor,
  layout: "split" | "interleaved",
  inverse: boolean,
): Tensor {
  const s = asNd(sin);
  if (inverse) s.data = s.data.map((v) => -v);
  return fromNd(ref.rope(asNd(x), asNd(cos), s, layout));
}

/** softmax(q·kᵀ·scale + mask)·v for [B, H, L, D] views (f32 [B, H, Lq, D] result). */
export function cpuAttention(q: Tensor, k: Tensor, v: Tensor, mask: Tensor | undefined, scale: number): Tensor {
  return fromNd(ref.attention(asNd(q), asNd(k), asNd(v), scale, mask ? asNd(mask) : undefined));
}

/** dQ, dK, dV (f32, contiguous; undefined where not needed) of Σ attention(q, k, v)·dout. */
export function cpuAttentionGrad(
  q: Tensor,
  k: Tensor,
  v: Tensor,
  mask: Tensor | undefined,
  dout: Tensor,
  scale: number,
  needs: boolean[],
): Array<Tensor | undefined> {
  const grads = ref.attentionGrad(asNd(q), asNd(k), asNd(v), scale, mask ? asNd(mask) : undefined, asNd(dout));
  return grads.map((g, i) => (needs[i] ? fromNd(g) : undefined));
}

/**
 * SiLU(x / sqrt(mean_c x² + eps)) over dim 1 of x [B, C, ...], written into the CPU view `out`
 * (values rounded to its dtype).
 */
export function cpuPixelNormSilu(x: Tensor, eps: number, out: Tensor): void {
  const xs = asNd(x);
  const ms = ref.mean(
    ref.zip([xs], (v) => v * v),
    [1],
  );
  copyInto(
    ref.zip([xs, ms], (v, m) => ref.silu(v / Math.sqrt(m + eps))),
    out,
  );
}
