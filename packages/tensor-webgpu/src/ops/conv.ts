import { A2VError } from "@a2v/errors";
import { isGradEnabled } from "../autograd.js";
import { u32lit } from "../codegen.js";
import { empty, fmtShape, type Tensor } from "../tensor.js";
import { bindingOf, withWindows } from "../window.js";
import { contiguous } from "./elementwise.js";
import { type Operands, pickTile, prelude, tiledWgsl } from "./matmul.js";
import { reshape, unsqueeze } from "./shape.js";

type Triple<T> = [T, T, T];

export interface Conv3dOptions {
  /** Per (t, h, w) or one value for all. */
  stride?: number | Triple<number>;
  /** Zero padding: one value, one per dim, or [before, after] per dim (causal time: [k − 1, 0]). */
  padding?: number | Triple<number> | Triple<[number, number]>;
  dilation?: number | Triple<number>;
  /** Per output channel, shape [Co]. */
  bias?: Tensor;
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

/**
 * 3-D convolution as an implicit GEMM on the tiled matmul kernel: M = output channels, N = output
 * positions, K = Ci·kt·kh·kw, with the im2col addressing done while B tiles are staged.
 * x [B, Ci, T, H, W] (any strides), weight [Co, Ci, kt, kh, kw]. Forward only (the VAEs are frozen).
 */
export function conv3d(x: Tensor, weight: Tensor, options: Conv3dOptions = {}): Tensor {
  x.assertAlive();
  weight.assertAlive();
  return withWindows([x], ([wx]) => conv3dReady(wx!, weight, options));
}

function conv3dReady(x: Tensor, weight: Tensor, options: Conv3dOptions): Tensor {
  if (x.rank !== 5 || weight.rank !== 5 || x.shape[1] !== weight.shape[1]) {
    throw new A2VError("shape_mismatch", `conv3d: input ${fmtShape(x.shape)} and weight ${fmtShape(weight.shape)}`, {
      status: 422,
    });
  }
  if (isGradEnabled() && (x.needsGrad || weight.needsGrad || options.bias?.needsGrad)) {
    throw new A2VError("no_backward", "conv3d/conv2d have no backward pass; run them inside noGrad()");
  }
  const [nb, ci, ti, hi, wi] = x.shape as [number, number, number, number, number];
  const [co, , kt, kh, kw] = weight.shape as [number, number, number, number, number];
  const stride = triple(options.stride, 1);
  const dil = triple(options.dilation, 1);
  const pad = pads(options.padding);
  const inSize = [ti, hi, wi];
  const kSize = [kt, kh, kw];
  const outSize = inSize.map(
    (n, d) => Math.floor((n + pad[d]![0] + pad[d]![1] - dil[d]! * (kSize[d]! - 1) - 1) / stride[d]!) + 1,
  );
  if (outSize.some((n) => n <= 0)) {
    throw new A2VError("bad_shape", `conv3d: output would be empty for input ${fmtShape(x.shape)}`, { status: 422 });
  }
  const [to, ho, wo] = outSize as Triple<number>;
  const k = ci * kt * kh * kw;
  const n = to * ho * wo;
  const w = weight.isContiguous ? weight : contiguous(weight);
  const a = w.view([co, k], [k, 1], w.offset);
  const out = empty([nb, co, n], "f32");
  const s = x.strides;
  const loadB = `fn load_b(gk: u32, gn: u32, base: u32) -> f32 {
  let c_w = gk % ${u32lit(kw)}; var r = gk / ${u32lit(kw)}; let c_h = r % ${u32lit(kh)}; r = r / ${u32lit(kh)};
  let c_t = r % ${u32lit(kt)}; let c_i = r / ${u32lit(kt)};
  let o_w = gn % ${u32lit(wo)}; var q = gn / ${u32lit(wo)}; let o_h = q % ${u32lit(ho)}; let o_t = q / ${u32lit(ho)};
  let it = i32(o_t * ${u32lit(stride[0])} + c_t * ${u32lit(dil[0])}) - ${pad[0][0]}i;
  let ih = i32(o_h * ${u32lit(stride[1])} + c_h * ${u32lit(dil[1])}) - ${pad[1][0]}i;
  let iw = i32(o_w * ${u32lit(stride[2])} + c_w * ${u32lit(dil[2])}) - ${pad[2][0]}i;
  if (it < 0 || it >= ${ti}i || ih < 0 || ih >= ${hi}i || iw < 0 || iw >= ${wi}i) { return 0.0; }
  return ld_b(base + c_i * ${u32lit(s[1]!)} + u32(it) * ${u32lit(s[2]!)} + u32(ih) * ${u32lit(s[3]!)} + u32(iw) * ${u32lit(s[4]!)});
}`;
  const bias = options.bias;
  if (bias && (bias.rank !== 1 || bias.shape[0] !== co)) {
    throw new A2VError("shape_mismatch", `conv3d bias must be [${co}], got ${fmtShape(bias.shape)}`);
  }
  const ops: Operands = {
    a,
    b: x,
    bias: undefined,
    addTo: undefined,
    alpha: 1,
    batch: [nb],
    m: co,
    n,
    k,
    ...(bias ? { rowBias: bias } : {}),
    bBatchView: { dtype: x.dtype, shape: [nb, k, n], strides: [s[0]!, 0, 0], offset: x.offset },
    loadB,
  };
  if (nb > 65535) throw new A2VError("too_many_batches", `conv3d batch ${nb} exceeds 65535`);
  const tile = pickTile(co, n, nb, x.storage.runtime.gpu.info.isSoftware);
  const { buffers } = prelude(ops);
  out.storage.runtime.dispatch(
    tiledWgsl(ops, tile),
    [bindingOf(out), ...buffers],
    [Math.ceil(n / tile.bn), Math.ceil(co / tile.bm), nb],
  );
  a.dispose();
  if (w !== weight) w.dispose();
  const result = reshape(out, [nb, co, to, ho, wo]);
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
