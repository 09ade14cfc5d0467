import { noGrad } from "../autograd.js";
import type { Tensor } from "../tensor.js";
import { div, map, mul, sub } from "./elementwise.js";
import { mean, sum } from "./reduce.js";

/**
 * Mean squared error. With `mask` (broadcast to `pred`, 1 = counts, 0 = ignored) the mean is over
 * the counted elements only: Σ m·(p − t)² / Σ m. Returns a scalar tensor; differentiable in pred/target.
 */
export function mseLoss(pred: Tensor, target: Tensor, mask?: Tensor): Tensor {
  const d = sub(pred, target);
  const sq = mul(d, d);
  d.dispose();
  if (!mask) {
    const out = mean(sq);
    sq.dispose();
    return out;
  }
  const masked = mul(sq, mask);
  const num = sum(masked);
  // The denominator is a constant (no gradient flows into the mask).
  const den = noGrad(() => {
    const m = map("max(x0, 0.0)", [mask], "f32", pred.shape);
    const count = sum(m);
    const total = map("max(x0, 1e-12)", [count]);
    m.dispose();
    count.dispose();
    return total;
  });
  const out = div(num, den);
  for (const t of [sq, masked, num, den]) t.dispose();
  return out;
}
