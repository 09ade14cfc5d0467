import { A2VError } from "@a2v/errors";
import {
  binding,
  coords,
  f32lit,
  grid,
  groupIndex,
  header,
  loader,
  offsetExpr,
  size,
  storeCast,
  u32lit,
  type View,
  WG,
} from "../codegen.js";
import { cpuPixelNormSilu } from "../cpu/nn.js";
import { deviceOf, empty, fmtShape, type Tensor } from "../tensor.js";
import { bindingOf, withWindows } from "../window.js";

/** The view without its channel dim (dim 1): one kernel thread per remaining position. */
const positions = (v: View): View => ({
  dtype: v.dtype,
  shape: v.shape.filter((_, d) => d !== 1),
  strides: v.strides.filter((_, d) => d !== 1),
  offset: v.offset,
});

/**
 * SiLU(x / sqrt(mean_c x² + eps)) over the channels (dim 1) of x [B, C, ...]: the VAEs' PixelNorm
 * followed by SiLU in one pass (the composed `silu(pixelNorm(x))` runs six kernels and holds four
 * full-size temporaries). Written into `out` (a view of x's shape, e.g. the interior of a padded
 * tensor) when given. Frozen-model inference only: no gradient.
 */
export function pixelNormSilu(x: Tensor, eps = 1e-8, out?: Tensor): Tensor {
  x.assertAlive();
  if (x.needsGrad) throw new A2VError("no_gradient", "pixelNormSilu has no backward; compose pixelNorm and silu");
  if (x.rank < 2) throw new A2VError("bad_shape", `pixelNormSilu needs [B, C, ...], got ${fmtShape(x.shape)}`);
  const device = deviceOf(out ? [x, out] : [x]);
  const target = out ?? empty(x.shape, x.dtype === "f16" ? "f16" : "f32", device);
  if (target.shape.join() !== x.shape.join() || target.dtype === "bf16" || !["f32", "f16"].includes(target.dtype)) {
    throw new A2VError("bad_shape", `pixelNormSilu writes an f32/f16 ${fmtShape(x.shape)} view, got ${target}`);
  }
  if (device === "cpu") {
    cpuPixelNormSilu(x, eps, target);
    return target;
  }
  withWindows([target, x], ([o, i]) => record(i!, o!, eps));
  return target;
}

function record(x: Tensor, out: Tensor, eps: number): void {
  const c = x.shape[1]!;
  const px = positions(x);
  const po = positions(out);
  const n = size(px.shape);
  if (n === 0 || c === 0) return;
  const groups = Math.ceil(n / WG);
  const [sx, so] = [u32lit(x.strides[1]!), u32lit(out.strides[1]!)];
  // CPU adapters: the channel count comes from a uniform. As a constant, Mesa/LLVM unrolled both channel loops
  // (exp included) and took 8-14 s to compile each of a VAE's ~45 shapes on an empty shader cache; now ~0.1 s.
  const dynamic = x.storage.runtime.gpu.info.isSoftware;
  const channels = dynamic ? "C" : u32lit(c);
  const wgsl = `${header([out.dtype, x.dtype])}${binding(0, "out", out.dtype, true)}
${binding(1, "x", x.dtype, false)}
${loader("x", x.dtype)}
${dynamic ? "@group(0) @binding(2) var<uniform> dims: vec4<u32>;" : ""}
@compute @workgroup_size(${WG}) fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let idx = ${groupIndex(groups)} * ${WG}u + lid;
  if (idx >= ${u32lit(n)}) { return; }
  ${dynamic ? "let C = dims.x;" : ""}
  ${coords(px.shape, "idx", "p")}
  let xb = ${offsetExpr(px, "p")};
  let ob = ${offsetExpr(po, "p")};
  var s = 0.0;
  for (var c = 0u; c < ${channels}; c++) { let v = ld_x(xb + c * ${sx}); s += v * v; }
  let inv = inverseSqrt(s / ${dynamic ? "f32(C)" : f32lit(c)} + ${f32lit(eps)});
  for (var c = 0u; c < ${channels}; c++) {
    let v = ld_x(xb + c * ${sx}) * inv;
    out[ob + c * ${so}] = ${storeCast(out.dtype, "v / (1.0 + exp(-v))")};
  }
}`;
  const uniform = dynamic ? new Uint32Array([c, 0, 0, 0]).buffer : undefined;
  x.storage.runtime.dispatch(wgsl, [bindingOf(out), bindingOf(x)], grid(groups), uniform);
}
