import { A2VError } from "@a2v/errors";
import { track } from "../autograd.js";
import { cpuMatmul } from "../cpu/linalg.js";
import { isFloat } from "../dtype.js";
import { deviceOf, empty, fmtShape, type Tensor } from "../tensor.js";
import { bindingOf, withWindows } from "../window.js";
import { alias, broadcastShapes, mul } from "./elementwise.js";
import { naiveWgsl, type Operands, pickTile, prelude, type TileConfig, tiledWgsl } from "./gemm-codegen.js";
import { panelMatmul, planPanels } from "./matmul-panel.js";
import { sgmatPlan, sgmatWgsl } from "./matmul-sgmat.js";
import { smallApplies, smallMatmul } from "./matmul-small.js";
import { sumTo } from "./reduce.js";
import { reshape, transpose } from "./shape.js";

export interface MatmulOptions {
  /** Added to every row: shape [N] (broadcast over rows and batch). */
  bias?: Tensor;
  /** Added to the result (broadcast to it), fused into the epilogue: out = alpha·A·B + bias + addTo. */
  addTo?: Tensor;
  /** Scale of the product. */
  alpha?: number;
  /**
   * Per-column scale `[N]` of the product, in the epilogue: out = alpha·(A·B)·diag(columnScale) + bias + addTo
   * (an 8-bit weight's per-output-channel scales). Frozen: no gradient flows to it.
   */
  columnScale?: Tensor;
}

function operands(a: Tensor, b: Tensor, opts: MatmulOptions): Operands {
  a.assertAlive();
  b.assertAlive();
  if (a.rank < 2 || b.rank < 2) {
    throw new A2VError("bad_shape", `matmul needs rank >= 2, got ${fmtShape(a.shape)} and ${fmtShape(b.shape)}`);
  }
  const [m, k] = [a.shape[a.rank - 2]!, a.shape[a.rank - 1]!];
  const [k2, n] = [b.shape[b.rank - 2]!, b.shape[b.rank - 1]!];
  if (k !== k2) {
    throw new A2VError("shape_mismatch", `matmul: inner dims differ in ${fmtShape(a.shape)} · ${fmtShape(b.shape)}`, {
      status: 422,
    });
  }
  const readable = (t: Tensor) => isFloat(t.dtype) || t.dtype === "i8";
  if (!readable(a) || !readable(b)) throw new A2VError("bad_dtype", "matmul needs float (or i8 code) tensors");
  const batch = broadcastShapes(a.shape.slice(0, -2), b.shape.slice(0, -2));
  if (opts.bias && (opts.bias.rank !== 1 || opts.bias.shape[0] !== n)) {
    throw new A2VError("shape_mismatch", `matmul bias must be [${n}], got ${fmtShape(opts.bias.shape)}`);
  }
  if (opts.addTo) broadcastShapes(opts.addTo.shape, [...batch, m, n]);
  const colScale = opts.columnScale;
  if (colScale && (colScale.rank !== 1 || colScale.shape[0] !== n)) {
    throw new A2VError("shape_mismatch", `matmul columnScale must be [${n}], got ${fmtShape(colScale.shape)}`);
  }
  if (colScale?.needsGrad) {
    throw new A2VError("frozen_scale", "matmul: columnScale is frozen (no gradient flows to it)");
  }
  return { a, b, bias: opts.bias, addTo: opts.addTo, alpha: opts.alpha ?? 1, colScale, batch, m, n, k };
}

/**
 * Which kernel runs a product: "auto" picks per adapter and shape; the others force one (for tests and
 * benchmarks): "tiled" the register-tiled SIMT kernel, "panel" the packed-panel kernel for CPU adapters
 * (falls back to tiled where it does not apply), "naive" one output per thread straight from memory, "small" the
 * uniform-parameterised kernel CPU adapters use for products too small for panels (see matmul-small.ts).
 */
export type MatmulVariant = "auto" | "tiled" | "panel" | "naive" | "small";

/** Raw product (no autograd). */
export function matmulRaw(
  a: Tensor,
  b: Tensor,
  opts: MatmulOptions = {},
  variant: MatmulVariant = "auto",
  tileOverride?: TileConfig,
): Tensor {
  const extras = [opts.bias, opts.addTo, opts.columnScale].filter((t): t is Tensor => t !== undefined);
  // The CPU device: one f64 implementation for every variant.
  if (deviceOf([a, b, ...extras]) === "cpu") return cpuMatmul(operands(a, b, opts));
  return withWindows([a, b, ...extras], ([wa, wb, ...rest]) => {
    const wopts: MatmulOptions = { ...opts };
    if (opts.bias) wopts.bias = rest.shift()!;
    if (opts.addTo) wopts.addTo = rest.shift()!;
    if (opts.columnScale) wopts.columnScale = rest.shift()!;
    return matmulReady(wa!, wb!, wopts, variant, tileOverride);
  });
}

function matmulReady(
  a: Tensor,
  b: Tensor,
  opts: MatmulOptions,
  variant: MatmulVariant,
  tileOverride?: TileConfig,
): Tensor {
  const ops = operands(a, b, opts);
  const out = empty([...ops.batch, ops.m, ops.n], "f32");
  const nb = ops.batch.reduce((x, y) => x * y, 1);
  if (out.size === 0) return out;
  const runtime = out.storage.runtime;
  const auto = variant === "auto" && !tileOverride;
  // The CPU adapters' panel and small kernels have no column scale: such products run the tiled kernel there.
  const plain = !ops.colScale;
  const panels = plain && (auto || variant === "panel") ? planPanels(ops, runtime, variant === "panel") : undefined;
  if (panels) {
    panelMatmul(ops, panels, out);
    return out;
  }
  const sgmat = auto ? sgmatPlan(runtime) : undefined;
  // CPU adapters: small products on the uniform-parameterised kernel (few pipelines, fast to compile).
  if (
    plain &&
    ((auto && !sgmat && smallApplies(ops, runtime)) || (variant === "small" && smallApplies(ops, runtime, true)))
  ) {
    smallMatmul(ops, out);
    return out;
  }
  const tile = tileOverride ?? pickTile(ops.m, ops.n, nb, runtime.gpu.info.isSoftware);
  const { buffers } = prelude(ops);
  const wgsl = variant === "naive" ? naiveWgsl(ops) : sgmat ? sgmatWgsl(ops, sgmat) : tiledWgsl(ops, tile);
  const [bx, by] = variant === "naive" ? [8, 8] : sgmat ? [sgmat.bn, sgmat.bm] : [tile.bn, tile.bm];
  if (nb > 65535) throw new A2VError("too_many_batches", `matmul batch ${nb} exceeds 65535`);
  runtime.dispatch(wgsl, [bindingOf(out), ...buffers], [Math.ceil(ops.n / bx), Math.ceil(ops.m / by), nb]);
  return out;
}

/**
 * out = alpha·(A·B) + bias + addTo with A [..., M, K], B [..., K, N] (batch dims broadcast). Any
 * strides work, so transposed views give A·Bᵀ and Aᵀ·B without copies. Result f32, contiguous.
 */
export function matmul(a: Tensor, b: Tensor, opts: MatmulOptions = {}): Tensor {
  // A batched activation times a 2-D weight is one big GEMM: fold the batch into M.
  const outShape = [...a.shape.slice(0, -1), b.shape[1]!];
  // addTo survives the fold if it is one row broadcast over all rows, or the whole result's shape.
  const c0 = opts.addTo;
  const addToFlat =
    !c0 ||
    c0.rank === 1 ||
    (c0.rank === 2 && c0.shape[0] === 1) ||
    (c0.isContiguous && c0.shape.join() === outShape.join());
  if (a.rank > 2 && b.rank === 2 && a.isContiguous && addToFlat) {
    const flat = reshape(a, [-1, a.shape[a.rank - 1]!]);
    const c = opts.addTo && opts.addTo.rank > 2 ? reshape(opts.addTo, [-1, b.shape[1]!]) : opts.addTo;
    const y = matmul(flat, b, { ...opts, ...(c ? { addTo: c } : {}) });
    const out = reshape(y, outShape);
    flat.dispose();
    y.dispose();
    if (c && c !== opts.addTo) c.dispose();
    return out;
  }
  const out = matmulRaw(a, b, opts);
  const inputs = [a, b, ...(opts.bias ? [opts.bias] : []), ...(opts.addTo ? [opts.addTo] : [])];
  const alpha = opts.alpha ?? 1;
  const colScale = opts.columnScale;
  // dA needs B and dB needs A: save only those, so a frozen weight's input activation is not kept.
  const keepA = b.needsGrad;
  const keepB = a.needsGrad;
  const saved = [...(keepA ? [a] : []), ...(keepB ? [b] : [])];
  return track("matmul", out, inputs, saved, (g, s, needs) => {
    const sa = keepA ? s[0] : undefined;
    const sb = keepB ? s[keepA ? 1 : 0] : undefined;
    const grads: Array<Tensor | undefined> = [];
    // The product's gradient is g·diag(columnScale); bias and addTo take g itself.
    const gp = colScale && (needs[0] || needs[1]) ? mul(g, colScale) : g;
    grads.push(needs[0] ? sumTo(matmulRaw(gp, transpose(sb!), { alpha }), a.shape) : undefined);
    grads.push(needs[1] ? sumTo(matmulRaw(transpose(sa!), gp, { alpha }), b.shape) : undefined);
    if (opts.bias) grads.push(needs[2] ? sumTo(alias(g), [1, opts.bias.shape[0]!]) : undefined);
    if (opts.addTo) grads.push(needs[grads.length] ? sumTo(alias(g), opts.addTo.shape) : undefined);
    if (opts.bias && grads[2]) grads[2] = reshapeTo(grads[2], opts.bias.shape);
    return grads;
  });
}

function reshapeTo(t: Tensor, shape: readonly number[]): Tensor {
  const out = t.view(shape, shape.length === 1 ? [1] : t.strides, t.offset);
  t.dispose();
  return out;
}

/** PyTorch-style linear layer: x·Wᵀ + bias with W [out, in]. */
export function linear(x: Tensor, weight: Tensor, bias?: Tensor): Tensor {
  const wt = transpose(weight);
  const out = matmul(x, wt, bias ? { bias } : {});
  wt.dispose();
  return out;
}

/**
 * LoRA linear: y = x·Wᵀ + b + s·(x·Aᵀ)·Bᵀ with A [r, in], B [out, r]. The low-rank product is added in
 * the second GEMM's epilogue; backward gives dx, dA, dB (and no dW for a frozen W).
 */
export function loraLinear(
  x: Tensor,
  weight: Tensor,
  bias: Tensor | undefined,
  a: Tensor,
  b: Tensor,
  s: number,
): Tensor {
  const base = linear(x, weight, bias);
  const out = addLoraUpdate(base, x, a, b, s);
  base.dispose();
  return out;
}

/**
 * base + s·(x·Aᵀ)·Bᵀ, the low-rank product added in the second GEMM's epilogue: the LoRA update of any
 * base product (e.g. a `quantizedLinear`) with no intermediate of the base's size. `base` stays the caller's.
 */
export function addLoraUpdate(base: Tensor, x: Tensor, a: Tensor, b: Tensor, s: number): Tensor {
  const at = transpose(a);
  const bt = transpose(b);
  const down = matmul(x, at);
  const out = matmul(down, bt, { alpha: s, addTo: base });
  for (const t of [at, bt, down]) t.dispose();
  return out;
}
