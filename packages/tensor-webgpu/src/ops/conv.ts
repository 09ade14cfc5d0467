import { A2VError } from "@a2v/errors";
import { track } from "../autograd.js";
import { u32lit } from "../codegen.js";
import { type ConvGeometry, cpuConvForward, cpuConvInputGrad, cpuConvWeightGrad, type Triple } from "../cpu/conv.js";
import { deviceOf, empty, fmtShape, type Tensor } from "../tensor.js";
import { bindingOf, withWindows } from "../window.js";
import { directConvApplies, directConvForward } from "./conv-direct.js";
import { smallConvApplies, smallConvForward } from "./conv-small.js";
import { contiguous } from "./elementwise.js";
import { type Operands, pickTile, prelude, tiledWgsl } from "./gemm-codegen.js";
import { sum } from "./reduce.js";
import { permute, reshape, unsqueeze } from "./shape.js";

export type ConvKernel = "auto" | "tiled" | "direct" | "small";

export interface Conv3dOptions {
  /** Per (t, h, w) or one value for all. */
  stride?: number | Triple<number>;
  /** Zero padding: one value, one per dim, or [before, after] per dim (causal time: [k − 1, 0]). */
  padding?: number | Triple<number> | Triple<[number, number]>;
  dilation?: number | Triple<number>;
  /** Per output channel, shape [Co]. */
  bias?: Tensor;
  /**
   * Forward kernel: "auto" (default) runs the direct kernel on CPU adapters (conv-direct.ts: weights in a uniform,
   * several channels × positions per thread, a few shape-generic pipelines) and the tiled implicit GEMM elsewhere.
   * "tiled" forces the implicit GEMM, "direct" the direct kernel (any adapter), "small" the one-position-per-thread
   * shape-generic kernel (conv-small.ts, the previous CPU-adapter path, kept as the bench baseline). On "auto", the
   * environment variable `A2V_CONV_KERNEL` (same values) overrides the choice, for benchmarks.
   */
  kernel?: ConvKernel;
}

function triple(v: number | Triple<number> | undefined, d: number): Triple<number> {
  if (v === undefined) return [d, d, d];
  return typeof v === "number" ? [v, v, v] : v;
}

function pads(p: Conv3dOptions["padding"]): Triple<[number, number]> {
  if (p === undefined)
    return [
      [0, 0],
      [0, 0],
      [0, 0],
    ];
  if (typeof p === "number")
    return [
      [p, p],
      [p, p],
      [p, p],
    ];
  return p.map((v) => (typeof v === "number" ? [v, v] : v)) as Triple<[number, number]>;
}

function geometry(x: Tensor, weight: Tensor, options: Conv3dOptions): ConvGeometry {
  if (x.rank !== 5 || weight.rank !== 5 || x.shape[1] !== weight.shape[1]) {
    throw new A2VError("shape_mismatch", `conv3d: input ${fmtShape(x.shape)} and weight ${fmtShape(weight.shape)}`, {
      status: 422,
    });
  }
  const [nb, ci, ti, hi, wi] = x.shape as [number, number, number, number, number];
  const [co, , kt, kh, kw] = weight.shape as [number, number, number, number, number];
  const stride = triple(options.stride, 1);
  const dilation = triple(options.dilation, 1);
  const pad = pads(options.padding);
  const input: Triple<number> = [ti, hi, wi];
  const kernel: Triple<number> = [kt, kh, kw];
  const output = input.map(
    (n, d) => Math.floor((n + pad[d]![0] + pad[d]![1] - dilation[d]! * (kernel[d]! - 1) - 1) / stride[d]!) + 1,
  ) as Triple<number>;
  if (output.some((n) => n <= 0)) {
    throw new A2VError("bad_shape", `conv3d: output would be empty for input ${fmtShape(x.shape)}`, { status: 422 });
  }
  if (nb > 65535) throw new A2VError("too_many_batches", `conv3d batch ${nb} exceeds 65535`);
  const bias = options.bias;
  if (bias && (bias.rank !== 1 || bias.shape[0] !== co)) {
    throw new A2VError("shape_mismatch", `conv3d bias must be [${co}], got ${fmtShape(bias.shape)}`);
  }
  return { nb, ci, co, input, kernel, output, stride, dilation, pad };
}

const volume = (t: Triple<number>): number => t[0] * t[1] * t[2];

/** withWindows for GPU tensors; CPU tensors have no binding limits and pass through as they are. */
function ready<R>(tensors: Tensor[], fn: (ready: Tensor[]) => R): R {
  return tensors.every((t) => t.device === "cpu") ? fn(tensors) : withWindows(tensors, fn);
}

/**
 * WGSL decomposing a kernel index `kIdx` into (c_i, c_t, c_h, c_w) and an output position `pos` into
 * (o_t, o_h, o_w), then reading input x (strides `s`) at the tap they meet, or 0 in the padding.
 */
function im2col(g: ConvGeometry, s: readonly number[], kIdx: string, pos: string): string {
  const [kt, kh, kw] = g.kernel;
  const [, ho, wo] = g.output;
  const [ti, hi, wi] = g.input;
  const tap = (d: number, o: string, c: string): string =>
    `i32(${o} * ${u32lit(g.stride[d]!)} + ${c} * ${u32lit(g.dilation[d]!)}) - ${g.pad[d]![0]}i`;
  return `let c_w = ${kIdx} % ${u32lit(kw)}; var r = ${kIdx} / ${u32lit(kw)}; let c_h = r % ${u32lit(kh)}; r = r / ${u32lit(kh)};
  let c_t = r % ${u32lit(kt)}; let c_i = r / ${u32lit(kt)};
  let o_w = ${pos} % ${u32lit(wo)}; var q = ${pos} / ${u32lit(wo)}; let o_h = q % ${u32lit(ho)}; let o_t = q / ${u32lit(ho)};
  let it = ${tap(0, "o_t", "c_t")}; let ih = ${tap(1, "o_h", "c_h")}; let iw = ${tap(2, "o_w", "c_w")};
  if (it < 0 || it >= ${ti}i || ih < 0 || ih >= ${hi}i || iw < 0 || iw >= ${wi}i) { return 0.0; }
  return ld_b(base + c_i * ${u32lit(s[1]!)} + u32(it) * ${u32lit(s[2]!)} + u32(ih) * ${u32lit(s[3]!)} + u32(iw) * ${u32lit(s[4]!)});`;
}

/**
 * Operands of a batched implicit GEMM: A [nb, M, K] a plain view, B read through `loadBody` (WGSL
 * statements of `load_b(gk, gn, base)`) from `b`, whose batch elements are `b.strides[0]` apart.
 */
function implicitOps(
  a: Tensor,
  b: Tensor,
  dims: { nb: number; m: number; n: number; k: number },
  loadBody: string,
  rowBias?: Tensor,
): Operands {
  const { nb, m, n, k } = dims;
  return {
    a,
    b,
    bias: undefined,
    addTo: undefined,
    alpha: 1,
    batch: [nb],
    m,
    n,
    k,
    ...(rowBias ? { rowBias } : {}),
    bBatchView: { dtype: b.dtype, shape: [nb, k, n], strides: [b.strides[0]!, 0, 0], offset: b.offset },
    loadB: `fn load_b(gk: u32, gn: u32, base: u32) -> f32 {\n  ${loadBody}\n}`,
  };
}

/** Runs one implicit GEMM on the tiled kernel: out [batch, M, N]. */
function implicitGemm(ops: Operands, runtime: Tensor["storage"]["runtime"]): Tensor {
  const nb = ops.batch.reduce((x, y) => x * y, 1);
  const out = empty([...ops.batch, ops.m, ops.n], "f32");
  const tile = pickTile(ops.m, ops.n, nb, runtime.gpu.info.isSoftware);
  const { buffers } = prelude(ops);
  runtime.dispatch(
    tiledWgsl(ops, tile),
    [bindingOf(out), ...buffers],
    [Math.ceil(ops.n / tile.bn), Math.ceil(ops.m / tile.bm), nb],
  );
  return out;
}

/**
 * 3-D convolution as an implicit GEMM on the tiled matmul kernel: M = output channels, N = output
 * positions, K = Ci·kt·kh·kw, with the im2col addressing done while B tiles are staged.
 * x [B, Ci, T, H, W] (any strides), weight [Co, Ci, kt, kh, kw]. Differentiable in x, weight and bias:
 * the input gradient is a transposed convolution and the weight gradient a correlation of x with the
 * output gradient, both implicit GEMMs on the same kernel.
 */
export function conv3d(x: Tensor, weight: Tensor, options: Conv3dOptions = {}): Tensor {
  x.assertAlive();
  weight.assertAlive();
  const g = geometry(x, weight, options);
  const bias = options.bias;
  const y = ready([x], ([wx]) => convForward(wx!, weight, bias, g, options.kernel ?? "auto"));
  const inputs = [x, weight, ...(bias ? [bias] : [])];
  // dX needs the weight and dW needs x: keep only those (a frozen VAE saves nothing).
  const keepW = x.needsGrad;
  const keepX = weight.needsGrad;
  const saved = [...(keepX ? [x] : []), ...(keepW ? [weight] : [])];
  return track("conv3d", y, inputs, saved, (dy, s, needs) => {
    const sx = keepX ? s[0] : undefined;
    const sw = keepW ? s[keepX ? 1 : 0] : undefined;
    const grads: Array<Tensor | undefined> = [
      needs[0] ? ready([dy], ([wd]) => convInputGrad(wd!, sw!, x.shape, g)) : undefined,
      needs[1] ? ready([sx!], ([wx]) => convWeightGrad(dy, wx!, g)) : undefined,
    ];
    if (bias) grads.push(needs[2] ? sum(dy, [0, 2, 3, 4]) : undefined);
    return grads;
  });
}

/** The forward kernel a convolution runs (see Conv3dOptions.kernel); falls back to the tiled GEMM past limits. */
function pickConvKernel(kernel: ConvKernel, x: Tensor, g: ConvGeometry): "tiled" | "direct" | "small" {
  let want = kernel;
  if (want === "auto") {
    const env = typeof process === "undefined" ? undefined : process.env.A2V_CONV_KERNEL;
    want = env === "tiled" || env === "direct" || env === "small" ? env : "auto";
  }
  if (want === "auto") want = x.storage.runtime.gpu.info.isSoftware ? "direct" : "tiled";
  if (want === "direct" && !directConvApplies(g)) want = "small";
  if (want === "small" && !smallConvApplies(g)) want = "tiled";
  return want;
}

function convForward(x: Tensor, weight: Tensor, bias: Tensor | undefined, g: ConvGeometry, kernel: ConvKernel): Tensor {
  if (deviceOf([x, weight, ...(bias ? [bias] : [])]) === "cpu") return cpuConvForward(x, weight, bias, g);
  const k = g.ci * volume(g.kernel);
  const n = volume(g.output);
  const w = weight.isContiguous ? weight : contiguous(weight);
  const a = w.view([g.co, k], [k, 1], w.offset);
  // CPU adapters: shape-generic pipelines (conv-direct.ts) instead of a tiled implicit GEMM compiled per shape.
  const which = pickConvKernel(kernel, x, g);
  const out =
    which === "direct"
      ? directConvForward(x, a, bias, g)
      : which === "small"
        ? smallConvForward(x, a, bias, g)
        : implicitGemm(
            implicitOps(a, x, { nb: g.nb, m: g.co, n, k }, im2col(g, x.strides, "gk", "gn"), bias),
            x.storage.runtime,
          );
  a.dispose();
  if (w !== weight) w.dispose();
  const result = reshape(out, [g.nb, g.co, ...g.output]);
  out.dispose();
  return result;
}

/** dW[co, (ci, taps)] = Σ_b Σ_positions dY[b, co, p] · im2col(x)[b, (ci, taps), p]. */
function convWeightGrad(dy: Tensor, x: Tensor, g: ConvGeometry): Tensor {
  if (deviceOf([dy, x]) === "cpu") return cpuConvWeightGrad(dy, x, g);
  const k = g.ci * volume(g.kernel);
  const n = volume(g.output);
  const d = dy.isContiguous ? dy : contiguous(dy);
  const a = d.view([g.nb, g.co, n], [g.co * n, n, 1], d.offset);
  // The product's K runs over output positions and its N over (ci, taps): im2col with the roles swapped.
  const ops = implicitOps(a, x, { nb: g.nb, m: g.co, n: k, k: n }, im2col(g, x.strides, "gn", "gk"));
  const perBatch = implicitGemm(ops, x.storage.runtime);
  const total = g.nb === 1 ? perBatch : sum(perBatch, 0);
  if (total !== perBatch) perBatch.dispose();
  const out = reshape(total, [g.co, g.ci, ...g.kernel]);
  total.dispose();
  a.dispose();
  if (d !== dy) d.dispose();
  return out;
}

/**
 * dX[b, ci, p] = Σ_(co, taps) W[co, ci, taps] · dY[b, co, o] over the output positions o whose taps
 * land on input position p (a transposed convolution): A = W permuted to [ci, (co, taps)].
 */
function convInputGrad(dy: Tensor, weight: Tensor, inputShape: readonly number[], g: ConvGeometry): Tensor {
  if (deviceOf([dy, weight]) === "cpu") return cpuConvInputGrad(dy, weight, inputShape, g);
  const taps = volume(g.kernel);
  const k = g.co * taps;
  const n = volume(g.input);
  const [kt, kh, kw] = g.kernel;
  const [to, ho, wo] = g.output;
  const [, hi, wi] = g.input;
  const wp = permute(weight, [1, 0, 2, 3, 4]);
  const wc = contiguous(wp);
  const a = wc.view([g.ci, k], [k, 1], wc.offset);
  const s = dy.strides;
  // Output coordinate along dim d reached from input coordinate `i` through tap `c`, or -1.
  const source = (d: number, i: string, c: string, size: number): string => {
    const num = `(i32(${i}) + ${g.pad[d]![0]}i - i32(${c} * ${u32lit(g.dilation[d]!)}))`;
    const st = g.stride[d]!;
    return st === 1
      ? `select(-1i, ${num}, ${num} >= 0i && ${num} < ${size}i)`
      : `select(-1i, ${num} / ${st}i, ${num} >= 0i && ${num} % ${st}i == 0i && ${num} / ${st}i < ${size}i)`;
  };
  const loadB = `let c_w = gk % ${u32lit(kw)}; var r = gk / ${u32lit(kw)}; let c_h = r % ${u32lit(kh)}; r = r / ${u32lit(kh)};
  let c_t = r % ${u32lit(kt)}; let c_o = r / ${u32lit(kt)};
  let i_w = gn % ${u32lit(wi)}; var q = gn / ${u32lit(wi)}; let i_h = q % ${u32lit(hi)}; let i_t = q / ${u32lit(hi)};
  let ot = ${source(0, "i_t", "c_t", to)}; let oh = ${source(1, "i_h", "c_h", ho)}; let ow = ${source(2, "i_w", "c_w", wo)};
  if (ot < 0i || oh < 0i || ow < 0i) { return 0.0; }
  return ld_b(base + c_o * ${u32lit(s[1]!)} + u32(ot) * ${u32lit(s[2]!)} + u32(oh) * ${u32lit(s[3]!)} + u32(ow) * ${u32lit(s[4]!)});`;
  const ops = implicitOps(a, dy, { nb: g.nb, m: g.ci, n, k }, loadB);
  const out = implicitGemm(ops, dy.storage.runtime);
  for (const t of [wp, wc, a]) t.dispose();
  const result = reshape(out, inputShape);
  out.dispose();
  return result;
}

export interface Conv2dOptions {
  stride?: number | [number, number];
  padding?: number | [number, number] | [[number, number], [number, number]];
  dilation?: number | [number, number];
  bias?: Tensor;
}

function lift<T>(v: T | [T, T] | undefined, one: T): Triple<T> | undefined {
  if (v === undefined) return undefined;
  return Array.isArray(v) ? [one, v[0], v[1]] : [one, v, v];
}

/** 2-D convolution: x [B, Ci, H, W], weight [Co, Ci, kh, kw]; runs as conv3d with a unit time axis. */
export function conv2d(x: Tensor, weight: Tensor, options: Conv2dOptions = {}): Tensor {
  const x3 = unsqueeze(x, 2);
  const w3 = unsqueeze(weight, 2);
  const padding = options.padding;
  const pad3: Conv3dOptions["padding"] =
    padding === undefined
      ? undefined
      : typeof padding === "number"
        ? [0, padding, padding]
        : Array.isArray(padding[0])
          ? [[0, 0], padding[0] as [number, number], padding[1] as [number, number]]
          : [0, padding[0] as number, padding[1] as number];
  const opts: Conv3dOptions = {};
  const st = lift(options.stride, 1);
  const dl = lift(options.dilation, 1);
  if (st) opts.stride = st;
  if (dl) opts.dilation = dl;
  if (pad3) opts.padding = pad3;
  if (options.bias) opts.bias = options.bias;
  const y = conv3d(x3, w3, opts);
  const out = reshape(y, [y.shape[0]!, y.shape[1]!, y.shape[3]!, y.shape[4]!]);
  for (const t of [x3, w3, y]) t.dispose();
  return out;
}
