import { A2VError } from "@a2v/errors";
import { track } from "../autograd.js";
import { binding, coords, f32lit, grid, groupIndex, header, loader, storeCast, u32lit } from "../codegen.js";
import { cpuLayerNorm, cpuRmsNorm, cpuSoftmax } from "../cpu/nn.js";
import type { DType } from "../dtype.js";
import { deviceOf, empty, fmtShape, type Tensor } from "../tensor.js";
import { bindable, bindingOf } from "../window.js";
import { map } from "./elementwise.js";
import { mean, sum, sumTo } from "./reduce.js";

const RWG = 64;

/** Row-kernel scaffolding: one workgroup per row of the last axis; `ld_x(j)` reads element j of the row. */
function rowKernel(x: Tensor, extraDecls: string, body: string, dtypes: DType[] = []): string {
  const rowShape = x.shape.slice(0, -1);
  const rows = rowShape.reduce((a, b) => a * b, 1);
  const rowTerms = rowShape.flatMap((n, d) => (n !== 1 && x.strides[d] ? [` + r${d} * ${u32lit(x.strides[d]!)}`] : []));
  const last = x.strides[x.rank - 1]!;
  return `${header([x.dtype, ...dtypes])}${binding(1, "x", x.dtype, false)}
${extraDecls}
${loader("x", x.dtype)}
var<workgroup> part: array<f32, ${RWG}>;
fn wg_sum(v: f32, lid: u32) -> f32 {
  part[lid] = v;
  workgroupBarrier();
  for (var s = ${RWG / 2}u; s > 0u; s >>= 1u) {
    if (lid < s) { part[lid] += part[lid + s]; }
    workgroupBarrier();
  }
  let total = part[0];
  workgroupBarrier();
  return total;
}
fn wg_max(v: f32, lid: u32) -> f32 {
  part[lid] = v;
  workgroupBarrier();
  for (var s = ${RWG / 2}u; s > 0u; s >>= 1u) {
    if (lid < s) { part[lid] = max(part[lid], part[lid + s]); }
    workgroupBarrier();
  }
  let total = part[0];
  workgroupBarrier();
  return total;
}
@compute @workgroup_size(${RWG}) fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = ${groupIndex(rows)};
  ${coords(rowShape, "row", "r")}
  let xBase = ${u32lit(x.offset)}${rowTerms.join("")};
  let L = ${u32lit(x.shape[x.rank - 1]!)};
  let oBase = row * L;
  ${body.replaceAll("X(", `ld_x(xBase + ${last === 1 ? "" : `${u32lit(last)} * `}`)}
}`;
}

function rows(x: Tensor): number {
  return x.shape.slice(0, -1).reduce((a, b) => a * b, 1);
}

/** Softmax over the last axis (f32 math; result f32). */
export function softmax(x: Tensor): Tensor {
  x.assertAlive();
  const out = deviceOf([x]) === "cpu" ? cpuSoftmax(x) : softmaxKernel(x);
  return track("softmax", out, [x], [out], (g, [y]) => {
    const dot = sum(map("x0 * x1", [g, y!]), -1, true);
    return [map("x1 * (x0 - x2)", [g, y!, dot])];
  });
}

function softmaxKernel(x: Tensor): Tensor {
  const out = empty(x.shape, "f32");
  const wx = bindable(x);
  const wgsl = rowKernel(
    wx,
    binding(0, "out", "f32", true),
    `var m = ${f32lit(Number.NEGATIVE_INFINITY)};
  for (var j = lid; j < L; j += ${RWG}u) { m = max(m, X(j)); }
  m = wg_max(m, lid);
  var s = 0.0;
  for (var j = lid; j < L; j += ${RWG}u) { s += exp(X(j) - m); }
  s = wg_sum(s, lid);
  for (var j = lid; j < L; j += ${RWG}u) { out[oBase + j] = exp(X(j) - m) / s; }`,
  );
  if (out.size) out.storage.runtime.dispatch(wgsl, [bindingOf(out), bindingOf(wx)], grid(rows(x)));
  if (wx !== x) wx.dispose();
  return out;
}

export interface RmsNormOptions {
  eps?: number;
  /** Gemma-style scale: y = x̂·(1 + w). */
  onePlusWeight?: boolean;
}

/** RMSNorm over the last axis: x / sqrt(mean(x²) + eps) · w (w optional, shape [L]). */
export function rmsNorm(x: Tensor, weight?: Tensor, options: RmsNormOptions = {}): Tensor {
  x.assertAlive();
  const eps = options.eps ?? 1e-6;
  const L = x.shape[x.rank - 1]!;
  if (weight && (weight.rank !== 1 || weight.shape[0] !== L)) {
    throw new A2VError("shape_mismatch", `rmsNorm weight must be [${L}], got ${fmtShape(weight.shape)}`);
  }
  const [out, rstd] =
    deviceOf(weight ? [x, weight] : [x]) === "cpu"
      ? cpuRmsNorm(x, weight, eps, options.onePlusWeight ?? false)
      : rmsNormKernel(x, weight, eps, options.onePlusWeight ?? false);
  const inputs = weight ? [x, weight] : [x];
  const result = track("rmsNorm", out, inputs, weight ? [x, rstd, weight] : [x, rstd], (g, s, needs) => {
    const [sx, r, sw] = s;
    const xh = map("x0 * x1", [sx!, r!]);
    const gw = sw ? map(options.onePlusWeight ? "x0 * (1.0 + x1)" : "x0 * x1", [g, sw]) : g;
    const dot = mean(map("x0 * x1", [gw, xh]), -1, true);
    const dx = needs[0] ? map("x2 * (x0 - x1 * x3)", [gw, xh, r!, dot]) : undefined;
    const dw = sw && needs[1] ? sumTo(map("x0 * x1", [g, xh]), [L]) : undefined;
    return [dx, dw];
  });
  rstd.dispose();
  return result;
}

/** The RMSNorm forward kernel: [out, rstd]. */
function rmsNormKernel(x: Tensor, weight: Tensor | undefined, eps: number, onePlusWeight: boolean): [Tensor, Tensor] {
  const out = empty(x.shape, "f32");
  const rstd = empty([...x.shape.slice(0, -1), 1], "f32");
  const w = weight
    ? `${onePlusWeight ? "(1.0 + " : "("}ld_w(${u32lit(weight.offset)} + j * ${u32lit(weight.strides[0]!)}))`
    : "1.0";
  const decls = [binding(0, "out", "f32", true), binding(2, "rstd", "f32", true)];
  if (weight) decls.push(binding(3, "w", weight.dtype, false), loader("w", weight.dtype));
  const wx = bindable(x);
  const wgsl = rowKernel(
    wx,
    decls.join("\n"),
    `var s = 0.0;
  for (var j = lid; j < L; j += ${RWG}u) { let v = X(j); s += v * v; }
  s = wg_sum(s, lid);
  let r = inverseSqrt(s / f32(L) + ${f32lit(eps)});
  if (lid == 0u) { rstd[row] = r; }
  for (var j = lid; j < L; j += ${RWG}u) { out[oBase + j] = X(j) * r * ${w}; }`,
    weight ? [weight.dtype] : [],
  );
  const buffers = [bindingOf(out), bindingOf(wx), bindingOf(rstd)];
  if (weight) buffers.push(bindingOf(weight));
  if (out.size) out.storage.runtime.dispatch(wgsl, buffers, grid(rows(x)));
  if (wx !== x) wx.dispose();
  return [out, rstd];
}

/** LayerNorm over the last axis without affine parameters: (x − mean) / sqrt(var + eps). */
export function layerNorm(x: Tensor, eps = 1e-6): Tensor {
  x.assertAlive();
  const [out, rstd] = deviceOf([x]) === "cpu" ? cpuLayerNorm(x, eps) : layerNormKernel(x, eps);
  const result = track("layerNorm", out, [x], [out, rstd], (g, [y, r]) => {
    const mg = mean(g, -1, true);
    const mgy = mean(map("x0 * x1", [g, y!]), -1, true);
    return [map("x4 * (x0 - x1 - x2 * x3)", [g, mg, y!, mgy, r!])];
  });
  rstd.dispose();
  return result;
}

/** The LayerNorm forward kernel: [out, rstd]. */
function layerNormKernel(x: Tensor, eps: number): [Tensor, Tensor] {
  const out = empty(x.shape, "f32");
  const rstd = empty([...x.shape.slice(0, -1), 1], "f32");
  const wx = bindable(x);
  const wgsl = rowKernel(
    wx,
    [binding(0, "out", "f32", true), binding(2, "rstd", "f32", true)].join("\n"),
    `var s = 0.0;
  for (var j = lid; j < L; j += ${RWG}u) { s += X(j); }
  let mu = wg_sum(s, lid) / f32(L);
  var q = 0.0;
  for (var j = lid; j < L; j += ${RWG}u) { let d = X(j) - mu; q += d * d; }
  let r = inverseSqrt(wg_sum(q, lid) / f32(L) + ${f32lit(eps)});
  if (lid == 0u) { rstd[row] = r; }
  for (var j = lid; j < L; j += ${RWG}u) { out[oBase + j] = ${storeCast("f32", "(X(j) - mu) * r")}; }`,
  );
  if (out.size) {
    out.storage.runtime.dispatch(wgsl, [bindingOf(out), bindingOf(wx), bindingOf(rstd)], grid(rows(x)));
  }
  if (wx !== x) wx.dispose();
  return [out, rstd];
}
