import { A2VError } from "@a2v/errors";
import type { Tensor } from "../tensor.js";
import { add, mul, rsqrt } from "./elementwise.js";
import { layerNorm } from "./norm.js";
import { mean } from "./reduce.js";
import { expand, permute, reshape } from "./shape.js";

/** x / sqrt(mean(x², dim) + eps): LTX's PixelNorm (RMS over channels, dim 1 by default). */
export function pixelNorm(x: Tensor, dim = 1, eps = 1e-8): Tensor {
  const sq = mul(x, x);
  const ms = mean(sq, dim, true);
  const shifted = add(ms, eps);
  const r = rsqrt(shifted);
  const out = mul(x, r);
  for (const t of [sq, ms, shifted, r]) t.dispose();
  return out;
}

/** GroupNorm over [B, C, ...]: normalise each of `groups` channel groups, then per-channel affine. */
export function groupNorm(x: Tensor, groups: number, weight?: Tensor, bias?: Tensor, eps = 1e-5): Tensor {
  const [b, c] = x.shape as [number, number];
  if (c % groups) throw new A2VError("bad_shape", `groupNorm: ${c} channels do not split into ${groups} groups`);
  const grouped = reshape(x, [b, groups, -1]);
  const normed = layerNorm(grouped, eps);
  let out = reshape(normed, x.shape);
  grouped.dispose();
  normed.dispose();
  const chan = [c, ...new Array<number>(x.rank - 2).fill(1)];
  if (weight) {
    const w = reshape(weight, chan);
    const scaled = mul(out, w);
    out.dispose();
    w.dispose();
    out = scaled;
  }
  if (bias) {
    const bb = reshape(bias, chan);
    const shifted = add(out, bb);
    out.dispose();
    bb.dispose();
    out = shifted;
  }
  return out;
}

/** Nearest-neighbour upsampling of the trailing dims by integer factors (e.g. [2, 2] for H, W). */
export function upsampleNearest(x: Tensor, factors: readonly number[]): Tensor {
  const lead = x.rank - factors.length;
  const inner = x.shape.slice(lead);
  // [..., d0, 1, d1, 1] → expand → [..., d0, f0, d1, f1] → reshape [..., d0·f0, d1·f1]
  const spread = reshape(x, [...x.shape.slice(0, lead), ...inner.flatMap((d) => [d, 1])]);
  const wide = expand(spread, [...x.shape.slice(0, lead), ...inner.flatMap((d, i) => [d, factors[i]!])]);
  const out = reshape(wide, [...x.shape.slice(0, lead), ...inner.map((d, i) => d * factors[i]!)]);
  spread.dispose();
  wide.dispose();
  return out;
}

/**
 * Depth-to-space over [B, C·∏f, D0, D1, ...] → [B, C, D0·f0, D1·f1, ...] with channel order
 * (c, f0, f1, ...) as einops `b (c p1 p2 p3) d h w -> b c (d p1) (h p2) (w p3)`.
 */
export function depthToSpace(x: Tensor, factors: readonly number[]): Tensor {
  const [b, cf] = x.shape as [number, number];
  const spatial = x.shape.slice(2);
  const prod = factors.reduce((a, f) => a * f, 1);
  const c = cf / prod;
  const k = factors.length;
  const split = reshape(x, [b, c, ...factors, ...spatial]);
  // dims: 0 b, 1 c, 2..2+k factors, 2+k.. spatial → b, c, (s0, f0), (s1, f1), ...
  const order = [0, 1, ...spatial.flatMap((_, i) => [2 + k + i, 2 + i])];
  const moved = permute(split, order);
  const out = reshape(moved, [b, c, ...spatial.map((d, i) => d * factors[i]!)]);
  split.dispose();
  moved.dispose();
  return out;
}

/** Inverse of depthToSpace: `b c (d p1) (h p2) (w p3) -> b (c p1 p2 p3) d h w`. */
export function spaceToDepth(x: Tensor, factors: readonly number[]): Tensor {
  const [b, c] = x.shape as [number, number];
  const spatial = x.shape.slice(2).map((d, i) => d / factors[i]!);
  const split = reshape(x, [b, c, ...spatial.flatMap((d, i) => [d, factors[i]!])]);
  const order = [0, 1, ...factors.map((_, i) => 3 + 2 * i), ...spatial.map((_, i) => 2 + 2 * i)];
  const moved = permute(split, order);
  const out = reshape(moved, [b, c * factors.reduce((a, f) => a * f, 1), ...spatial]);
  split.dispose();
  moved.dispose();
  return out;
}
