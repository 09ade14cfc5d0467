import { A2VError } from "@a2v/errors";
import { track } from "../autograd.js";
import { binding, f32lit, header, loader, u32lit, type View } from "../codegen.js";
import { cpuAttention, cpuAttentionGrad } from "../cpu/nn.js";
import type { DType } from "../dtype.js";
import type { Runtime } from "../runtime.js";
import { deviceOf, empty, fmtShape, type Tensor } from "../tensor.js";
import { bindingOf, withWindows } from "../window.js";
import { alias, broadcastView, map } from "./elementwise.js";
import { matmul } from "./matmul.js";
import { softmax } from "./norm.js";
import { sum } from "./reduce.js";
import { transpose } from "./shape.js";

/** Threads per row of a tile: each owns an interleaved quarter of the head dim. */
const P = 4;
/** Finite stand-in for −∞ (WGSL constants must be finite); exp(x − NEG) never overflows in use. */
const NEG = f32lit(-3.0e38);

export interface AttentionOptions {
  /** Additive mask broadcastable to [B, H, Lq, Lk] (use large negatives or −Infinity to mask). */
  mask?: Tensor;
  /** Score scale; default 1/√D. */
  scale?: number;
  /**
   * "fused": the flash kernels (scores never stored). "materialized": softmax(q·kᵀ·scale + mask)·v as two
   * batched matmuls and a softmax, storing the [B, H, Lq, Lk] scores. "auto" (default): materialized on
   * CPU adapters, where the GEMM kernel runs ~10× faster than the flash kernel, fused elsewhere.
   */
  kernel?: "auto" | "fused" | "materialized";
}

interface Geometry {
  b: number;
  h: number;
  lq: number;
  lk: number;
  d: number;
  scale: number;
  mask: View | undefined;
  /**
   * D, Lq and Lk (and D/P) as uniform values instead of WGSL constants (CPU adapters): with constant trip counts
   * Mesa/LLVM unrolls the head-dim loops around lavapipe's per-lane shared-memory loads, and the backward kernels
   * took 20-30 s each to compile; as uniforms, under 1 s. GPUs keep the constants (their compilers unroll well).
   */
  dynamic: boolean;
  /** Rows per workgroup (query rows, or key rows in the dK/dV kernel). */
  rows: number;
  /** Second tile length (keys per step, or query rows per step in the dK/dV kernel). */
  step: number;
}

/** Largest tile shape whose shared arrays (`floats(rows, step)` f32s) fit the device. */
function pickTiles(limitBytes: number, floats: (rows: number, step: number) => number): [number, number] {
  for (const [rows, step] of [
    [16, 16],
    [16, 8],
    [8, 8],
    [8, 4],
    [4, 4],
  ] as const) {
    if (floats(rows, step) * 4 <= limitBytes) return [rows, step];
  }
  throw new A2VError("head_dim_too_large", "attention: head dim too large for the device's workgroup memory");
}

function headBase(name: string, t: View): string {
  return `let ${name}Base = ${u32lit(t.offset)} + bi * ${u32lit(t.strides[0]!)} + hi * ${u32lit(t.strides[1]!)};`;
}

function rowAt(t: View, row: string, d: string): string {
  return `${row} * ${u32lit(t.strides[2]!)} + ${d} * ${u32lit(t.strides[3]!)}`;
}

function maskTerm(g: Geometry, qi: string, kj: string): string {
  if (!g.mask) return "";
  const m = g.mask;
  const terms = [u32lit(m.offset)];
  const coords = ["bi", "hi", qi, kj];
  m.strides.forEach((s, d) => {
    if (s) terms.push(`${coords[d]} * ${u32lit(s)}`);
  });
  return ` + ld_mask(${terms.join(" + ")})`;
}

/** Declarations: f32 outputs first, then the inputs, then the mask (the order buffers are bound in). */
function decls(inputs: Array<[string, DType]>, outputs: string[], g: Geometry, mask: Tensor | undefined): string {
  const all: Array<[string, DType]> = [...inputs, ...(mask ? ([["mask", mask.dtype]] as Array<[string, DType]>) : [])];
  const lines = [header(all.map(([, t]) => t))];
  outputs.forEach((name, i) => {
    lines.push(binding(i, name, "f32", true));
  });
  all.forEach(([name, dtype], i) => {
    lines.push(binding(outputs.length + i, name, dtype, false), loader(name, dtype));
  });
  if (g.dynamic) lines.push(`@group(0) @binding(${outputs.length + all.length}) var<uniform> dims: vec4<u32>;`);
  else lines.push(`const D = ${u32lit(g.d)}; const LQ = ${u32lit(g.lq)}; const LK = ${u32lit(g.lk)};`);
  lines.push(`const SCALE = ${f32lit(g.scale)};${g.dynamic ? "" : ` const DS = ${u32lit(Math.ceil(g.d / P))};`}`);
  return lines.join("\n");
}

/** First statement of a kernel: the dimensions from the uniform when they are not constants. */
function dims(g: Geometry): string {
  return g.dynamic ? "let D = dims.x; let LQ = dims.y; let LK = dims.z; let DS = dims.w;" : "";
}

/** The uniform `dims` of a dynamic kernel (none otherwise). */
function dimsUniform(g: Omit<Geometry, "rows" | "step">): ArrayBuffer | undefined {
  return g.dynamic ? new Uint32Array([g.d, g.lq, g.lk, Math.ceil(g.d / P)]).buffer : undefined;
}

/** Loads `count` rows starting at `first` of a [.., L, D] view into a shared tile (zeros past `limit`). */
function loadTile(
  tile: string,
  src: string,
  t: View,
  first: string,
  count: number,
  limit: string,
  threads: number,
): string {
  return `for (var i = lid; i < ${u32lit(count)} * D; i += ${threads}u) {
    let rr = i / D; let dd = i % D; let row = ${first} + rr;
    var v = 0.0;
    if (row < ${limit}) { v = ld_${src}(${src}Base + ${rowAt(t, "row", "dd")}); }
    ${tile}[i] = v;
  }`;
}

function forwardWgsl(q: Tensor, k: Tensor, v: Tensor, mask: Tensor | undefined, g: Geometry): string {
  const R = g.rows;
  const BK = g.step;
  const T = R * P;
  return `${decls(
    [
      ["q", q.dtype],
      ["k", k.dtype],
      ["v", v.dtype],
    ],
    ["out", "lse"],
    g,
    mask,
  )}
var<workgroup> Qs: array<f32, ${R * g.d}>;
var<workgroup> Ks: array<f32, ${BK * g.d}>;
var<workgroup> Vs: array<f32, ${BK * g.d}>;
var<workgroup> Ss: array<f32, ${R * BK}>;
@compute @workgroup_size(${T}) fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  ${dims(g)}
  let bh = wid.y; let bi = bh / ${u32lit(g.h)}; let hi = bh % ${u32lit(g.h)};
  ${headBase("q", q)} ${headBase("k", k)} ${headBase("v", v)}
  let q0 = wid.x * ${R}u;
  let r = lid / ${P}u; let p = lid % ${P}u; let qi = q0 + r;
  ${loadTile("Qs", "q", q, "q0", R, "LQ", T)}
  var o: array<f32, ${Math.ceil(g.d / P)}>;
  var m = ${NEG};
  var l = 0.0;
  for (var k0 = 0u; k0 < LK; k0 += ${BK}u) {
    workgroupBarrier();
    ${loadTile("Ks", "k", k, "k0", BK, "LK", T)}
    ${loadTile("Vs", "v", v, "k0", BK, "LK", T)}
    workgroupBarrier();
    for (var t = 0u; t < ${BK / P}u; t++) {
      let j = p + ${P}u * t; let kj = k0 + j;
      var s = ${NEG};
      if (kj < LK && qi < LQ) {
        var acc = 0.0;
        for (var d = 0u; d < D; d++) { acc = fma(Qs[r * D + d], Ks[j * D + d], acc); }
        s = acc * SCALE${maskTerm(g, "qi", "kj")};
      }
      Ss[r * ${BK}u + j] = s;
    }
    workgroupBarrier();
    var mt = m;
    for (var j = 0u; j < ${BK}u; j++) { mt = max(mt, Ss[r * ${BK}u + j]); }
    let alpha = exp(m - mt);
    l *= alpha;
    for (var i = 0u; i < DS; i++) { o[i] *= alpha; }
    for (var j = 0u; j < ${BK}u; j++) {
      if (k0 + j < LK) {
        let pj = exp(Ss[r * ${BK}u + j] - mt);
        l += pj;
        for (var i = 0u; i < DS; i++) {
          let d = p + ${P}u * i;
          if (d < D) { o[i] = fma(pj, Vs[j * D + d], o[i]); }
        }
      }
    }
    m = mt;
  }
  if (qi < LQ) {
    let inv = select(0.0, 1.0 / l, l > 0.0);
    for (var i = 0u; i < DS; i++) {
      let d = p + ${P}u * i;
      if (d < D) { out[(bh * LQ + qi) * D + d] = o[i] * inv; }
    }
    if (p == 0u) { lse[bh * LQ + qi] = select(${NEG}, m + log(l), l > 0.0); }
  }
}`;
}

function dqWgsl(q: Tensor, k: Tensor, v: Tensor, dout: Tensor, mask: Tensor | undefined, g: Geometry): string {
  const R = g.rows;
  const BK = g.step;
  const T = R * P;
  return `${decls(
    [
      ["q", q.dtype],
      ["k", k.dtype],
      ["v", v.dtype],
      ["dout", dout.dtype],
      ["lse", "f32"],
      ["delta", "f32"],
    ],
    ["gq"],
    g,
    mask,
  )}
var<workgroup> Qs: array<f32, ${R * g.d}>;
var<workgroup> Gs: array<f32, ${R * g.d}>;
var<workgroup> Ks: array<f32, ${BK * g.d}>;
var<workgroup> Vs: array<f32, ${BK * g.d}>;
var<workgroup> Ss: array<f32, ${R * BK}>;
@compute @workgroup_size(${T}) fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  ${dims(g)}
  let bh = wid.y; let bi = bh / ${u32lit(g.h)}; let hi = bh % ${u32lit(g.h)};
  ${headBase("q", q)} ${headBase("k", k)} ${headBase("v", v)} ${headBase("dout", dout)}
  let q0 = wid.x * ${R}u;
  let r = lid / ${P}u; let p = lid % ${P}u; let qi = q0 + r;
  ${loadTile("Qs", "q", q, "q0", R, "LQ", T)}
  ${loadTile("Gs", "dout", dout, "q0", R, "LQ", T)}
  let row = bh * LQ + min(qi, LQ - 1u);
  let lse_r = ld_lse(row);
  let delta_r = ld_delta(row);
  var dq: array<f32, ${Math.ceil(g.d / P)}>;
  for (var k0 = 0u; k0 < LK; k0 += ${BK}u) {
    workgroupBarrier();
    ${loadTile("Ks", "k", k, "k0", BK, "LK", T)}
    ${loadTile("Vs", "v", v, "k0", BK, "LK", T)}
    workgroupBarrier();
    for (var t = 0u; t < ${BK / P}u; t++) {
      let j = p + ${P}u * t; let kj = k0 + j;
      var ds = 0.0;
      if (kj < LK && qi < LQ) {
        var s = 0.0; var dp = 0.0;
        for (var d = 0u; d < D; d++) {
          s = fma(Qs[r * D + d], Ks[j * D + d], s);
          dp = fma(Gs[r * D + d], Vs[j * D + d], dp);
        }
        let pr = exp(s * SCALE${maskTerm(g, "qi", "kj")} - lse_r);
        ds = pr * (dp - delta_r);
      }
      Ss[r * ${BK}u + j] = ds;
    }
    workgroupBarrier();
    for (var j = 0u; j < ${BK}u; j++) {
      let ds = Ss[r * ${BK}u + j];
      for (var i = 0u; i < DS; i++) {
        let d = p + ${P}u * i;
        if (d < D) { dq[i] = fma(ds, Ks[j * D + d], dq[i]); }
      }
    }
  }
  if (qi < LQ) {
    for (var i = 0u; i < DS; i++) {
      let d = p + ${P}u * i;
      if (d < D) { gq[(bh * LQ + qi) * D + d] = dq[i] * SCALE; }
    }
  }
}`;
}

function dkvWgsl(q: Tensor, k: Tensor, v: Tensor, dout: Tensor, mask: Tensor | undefined, g: Geometry): string {
  const R = g.rows;
  const BQ = g.step;
  const T = R * P;
  return `${decls(
    [
      ["q", q.dtype],
      ["k", k.dtype],
      ["v", v.dtype],
      ["dout", dout.dtype],
      ["lse", "f32"],
      ["delta", "f32"],
    ],
    ["gk", "gv"],
    g,
    mask,
  )}
var<workgroup> Ks: array<f32, ${R * g.d}>;
var<workgroup> Vs: array<f32, ${R * g.d}>;
var<workgroup> Qs: array<f32, ${BQ * g.d}>;
var<workgroup> Gs: array<f32, ${BQ * g.d}>;
var<workgroup> Ls: array<f32, ${BQ}>;
var<workgroup> Es: array<f32, ${BQ}>;
var<workgroup> Ps: array<f32, ${R * BQ}>;
var<workgroup> Ss: array<f32, ${R * BQ}>;
@compute @workgroup_size(${T}) fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  ${dims(g)}
  let bh = wid.y; let bi = bh / ${u32lit(g.h)}; let hi = bh % ${u32lit(g.h)};
  ${headBase("q", q)} ${headBase("k", k)} ${headBase("v", v)} ${headBase("dout", dout)}
  let k0 = wid.x * ${R}u;
  let r = lid / ${P}u; let p = lid % ${P}u; let kr = k0 + r;
  ${loadTile("Ks", "k", k, "k0", R, "LK", T)}
  ${loadTile("Vs", "v", v, "k0", R, "LK", T)}
  var dk: array<f32, ${Math.ceil(g.d / P)}>;
  var dv: array<f32, ${Math.ceil(g.d / P)}>;
  for (var q0 = 0u; q0 < LQ; q0 += ${BQ}u) {
    workgroupBarrier();
    ${loadTile("Qs", "q", q, "q0", BQ, "LQ", T)}
    ${loadTile("Gs", "dout", dout, "q0", BQ, "LQ", T)}
    if (lid < ${BQ}u) {
      let row = bh * LQ + min(q0 + lid, LQ - 1u);
      Ls[lid] = ld_lse(row);
      Es[lid] = ld_delta(row);
    }
    workgroupBarrier();
    for (var t = 0u; t < ${Math.ceil(BQ / P)}u; t++) {
      let i = p + ${P}u * t; let qi = q0 + i;
      var pr = 0.0; var ds = 0.0;
      if (i < ${BQ}u && qi < LQ && kr < LK) {
        var s = 0.0; var dp = 0.0;
        for (var d = 0u; d < D; d++) {
          s = fma(Qs[i * D + d], Ks[r * D + d], s);
          dp = fma(Gs[i * D + d], Vs[r * D + d], dp);
        }
        pr = exp(s * SCALE${maskTerm(g, "qi", "kr")} - Ls[i]);
        ds = pr * (dp - Es[i]);
      }
      if (i < ${BQ}u) { Ps[r * ${BQ}u + i] = pr; Ss[r * ${BQ}u + i] = ds; }
    }
    workgroupBarrier();
    for (var i = 0u; i < ${BQ}u; i++) {
      let pr = Ps[r * ${BQ}u + i]; let ds = Ss[r * ${BQ}u + i];
      for (var c = 0u; c < DS; c++) {
        let d = p + ${P}u * c;
        if (d < D) {
          dv[c] = fma(pr, Gs[i * D + d], dv[c]);
          dk[c] = fma(ds, Qs[i * D + d], dk[c]);
        }
      }
    }
  }
  if (kr < LK) {
    for (var c = 0u; c < DS; c++) {
      let d = p + ${P}u * c;
      if (d < D) {
        gk[(bh * LK + kr) * D + d] = dk[c] * SCALE;
        gv[(bh * LK + kr) * D + d] = dv[c];
      }
    }
  }
}`;
}

function geometry(q: Tensor, k: Tensor, v: Tensor, opts: AttentionOptions): Omit<Geometry, "rows" | "step"> {
  for (const t of [q, k, v]) {
    t.assertAlive();
    if (t.rank !== 4)
      throw new A2VError("bad_shape", `attention expects [B, H, L, D] tensors, got ${fmtShape(t.shape)}`);
  }
  const [b, h, lq, d] = q.shape as [number, number, number, number];
  const lk = k.shape[2]!;
  const same = (t: Tensor, l: number): boolean =>
    t.shape[0] === b && t.shape[1] === h && t.shape[2] === l && t.shape[3] === d;
  if (!same(k, lk) || !same(v, lk)) {
    throw new A2VError(
      "shape_mismatch",
      `attention: q ${fmtShape(q.shape)}, k ${fmtShape(k.shape)}, v ${fmtShape(v.shape)} do not match`,
      { status: 422 },
    );
  }
  if (b * h > 65535) throw new A2VError("too_many_heads", `attention: B·H = ${b * h} exceeds 65535`);
  const mask = opts.mask ? broadcastView(padTo4(opts.mask), [b, h, lq, lk]) : undefined;
  const dynamic = q.device === "gpu" && q.storage.runtime.gpu.info.isSoftware;
  return { b, h, lq, lk, d, scale: opts.scale ?? 1 / Math.sqrt(d), mask, dynamic };
}

function padTo4(t: Tensor): View {
  const pad = 4 - t.rank;
  if (pad < 0) throw new A2VError("bad_shape", `attention mask must have rank <= 4, got ${fmtShape(t.shape)}`);
  return {
    dtype: t.dtype,
    shape: [...new Array<number>(pad).fill(1), ...t.shape],
    strides: [...new Array<number>(pad).fill(0), ...t.strides],
    offset: t.offset,
  };
}

/**
 * Fused (flash-style) scaled dot-product attention: softmax(q·kᵀ·scale + mask)·v with an online
 * softmax in f32. q [B, H, Lq, D], k and v [B, H, Lk, D] (any strides, so [B, L, H, D] tensors can be
 * passed as permuted views). Returns [B, H, Lq, D] f32. Differentiable in q, k and v (not the mask).
 */
export function attention(q: Tensor, k: Tensor, v: Tensor, opts: AttentionOptions = {}): Tensor {
  if (deviceOf([q, k, v, ...(opts.mask ? [opts.mask] : [])]) === "cpu") return attentionCpu(q, k, v, opts);
  const base = geometry(q, k, v, opts);
  if (materializes(q.storage.runtime, opts.kernel)) return materialized(q, k, v, opts.mask, base.scale);
  const limit = q.storage.runtime.gpu.info.limits.maxComputeWorkgroupStorageSize ?? 16384;
  const d = base.d;
  const [rows, step] = pickTiles(limit, (r, s) => r * d + 2 * s * d + r * s);
  const g: Geometry = { ...base, rows, step };
  const out = empty([g.b, g.h, g.lq, d], "f32");
  const lse = empty([g.b, g.h, g.lq, 1], "f32");
  const mask = opts.mask;
  if (out.size) {
    withWindows([q, k, v, ...(mask ? [mask] : [])], ([wq, wk, wv, wm]) => {
      const gw = { ...g, mask: maskView(wm, g) };
      const buffers = [out, lse, wq!, wk!, wv!, ...(wm ? [wm] : [])].map(bindingOf);
      const groups: [number, number] = [Math.ceil(g.lq / rows), g.b * g.h];
      q.storage.runtime.dispatch(forwardWgsl(wq!, wk!, wv!, wm, gw), buffers, groups, dimsUniform(g));
    });
  }
  const saved = [q, k, v, out, lse, ...(mask ? [mask] : [])];
  const result = track("attention", out, [q, k, v], saved, (dout, s, needs) => {
    const [sq, sk, sv, so, sl, sm] = s as [Tensor, Tensor, Tensor, Tensor, Tensor, Tensor | undefined];
    return attentionBackward(sq, sk, sv, so, sl, sm, dout, base, limit, needs);
  });
  lse.dispose();
  return result;
}

/**
 * The CPU device's attention: one f64 implementation whatever `kernel` says, its backward the analytic
 * dQ, dK, dV of the reference (the mask gets no gradient, as on the GPU).
 */
function attentionCpu(q: Tensor, k: Tensor, v: Tensor, opts: AttentionOptions): Tensor {
  const { scale } = geometry(q, k, v, opts);
  const mask = opts.mask;
  const out = cpuAttention(q, k, v, mask, scale);
  return track("attention", out, [q, k, v], [q, k, v, ...(mask ? [mask] : [])], (dout, s, needs) =>
    cpuAttentionGrad(s[0]!, s[1]!, s[2]!, s[3], dout, scale, needs),
  );
}

/** Whether `attention()` with this `kernel` option runs materialized on this runtime's adapter. */
export function materializes(runtime: Runtime, kernel: AttentionOptions["kernel"] = "auto"): boolean {
  return kernel === "materialized" || (kernel === "auto" && runtime.gpu.info.isSoftware);
}

/** Attention from differentiable ops; their own backward gives dQ, dK, dV (and the mask no gradient). */
function materialized(q: Tensor, k: Tensor, v: Tensor, mask: Tensor | undefined, scale: number): Tensor {
  const kt = transpose(k);
  // A plain view carries no gradient link, so the mask stays without gradient as in the fused kernels.
  const bias = mask ? alias(mask) : undefined;
  const scores = matmul(q, kt, { alpha: scale, ...(bias ? { addTo: bias } : {}) });
  const probs = softmax(scores);
  const out = matmul(probs, v);
  for (const t of [kt, scores, probs, ...(bias ? [bias] : [])]) t.dispose();
  return out;
}

function attentionBackward(
  q: Tensor,
  k: Tensor,
  v: Tensor,
  out: Tensor,
  lse: Tensor,
  mask: Tensor | undefined,
  dout: Tensor,
  base: Omit<Geometry, "rows" | "step">,
  limit: number,
  needs: boolean[],
): Array<Tensor | undefined> {
  // Δ = rowsum(dO ∘ O), the softmax-backward correction per query row.
  const delta = sum(map("x0 * x1", [dout, out]), -1, true);
  const grads = withWindows([q, k, v, dout, ...(mask ? [mask] : [])], ([wq, wk, wv, wd, wm]) =>
    backwardKernels(wq!, wk!, wv!, lse, delta, wm, wd!, { ...base, mask: maskView(wm, base) }, limit, needs),
  );
  delta.dispose();
  return grads;
}

function maskView(mask: Tensor | undefined, g: Omit<Geometry, "rows" | "step">): View | undefined {
  return mask ? broadcastView(padTo4(mask), [g.b, g.h, g.lq, g.lk]) : undefined;
}

function backwardKernels(
  q: Tensor,
  k: Tensor,
  v: Tensor,
  lse: Tensor,
  delta: Tensor,
  mask: Tensor | undefined,
  dout: Tensor,
  base: Omit<Geometry, "rows" | "step">,
  limit: number,
  needs: boolean[],
): Array<Tensor | undefined> {
  const d = base.d;
  const rt = q.storage.runtime;
  const grads: Array<Tensor | undefined> = [undefined, undefined, undefined];
  const extra = mask ? [bindingOf(mask)] : [];
  if (needs[0]) {
    const [rows, step] = pickTiles(limit, (r, s) => 2 * r * d + 2 * s * d + r * s);
    const g = { ...base, rows, step };
    const gq = empty(q.shape, "f32");
    const buffers = [gq, q, k, v, dout, lse, delta].map(bindingOf);
    const groups: [number, number] = [Math.ceil(g.lq / rows), g.b * g.h];
    rt.dispatch(dqWgsl(q, k, v, dout, mask, g), [...buffers, ...extra], groups, dimsUniform(g));
    grads[0] = gq;
  }
  if (needs[1] || needs[2]) {
    const [rows, step] = pickTiles(limit, (r, s) => 2 * r * d + 2 * s * d + 2 * r * s + 2 * s);
    const g = { ...base, rows, step };
    const gk = empty(k.shape, "f32");
    const gv = empty(v.shape, "f32");
    const buffers = [gk, gv, q, k, v, dout, lse, delta].map(bindingOf);
    const groups: [number, number] = [Math.ceil(g.lk / rows), g.b * g.h];
    rt.dispatch(dkvWgsl(q, k, v, dout, mask, g), [...buffers, ...extra], groups, dimsUniform(g));
    if (needs[1]) grads[1] = gk;
    else gk.dispose();
    if (needs[2]) grads[2] = gv;
    else gv.dispose();
  }
  return grads;
}
