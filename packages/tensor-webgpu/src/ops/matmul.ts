import { A2VError } from "@a2v/errors";
import { track } from "../autograd.js";
import { binding, coords, f32lit, header, loader, storeCast, u32lit, type View } from "../codegen.js";
import { cpuMatmul } from "../cpu/linalg.js";
import { isFloat } from "../dtype.js";
import { deviceOf, empty, fmtShape, type Tensor } from "../tensor.js";
import { bindingOf, withWindows } from "../window.js";
import { alias, broadcastShapes } from "./elementwise.js";
import { panelMatmul, planPanels } from "./matmul-panel.js";
import { sgmatWgsl } from "./matmul-sgmat.js";
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
}

/** Register-tiled SIMT kernel shape: a BM×BN output tile per workgroup, TM×TN per thread, K steps of BK. */
export interface TileConfig {
  bm: number;
  bn: number;
  bk: number;
  tm: number;
  tn: number;
}

/** Large outputs: 128×128 tiles, 256 threads of 8×8 (about 9× the naive kernel on lavapipe at 512³). */
const BIG_TILE: TileConfig = { bm: 128, bn: 128, bk: 8, tm: 8, tn: 8 };
/** Medium outputs: more workgroups for the same work. */
const MEDIUM_TILE: TileConfig = { bm: 64, bn: 64, bk: 8, tm: 8, tn: 8 };
/** Narrow outputs (LoRA down-projections, N ≤ 32). */
const NARROW_TILE: TileConfig = { bm: 64, bn: 32, bk: 8, tm: 4, tn: 4 };

/**
 * Tile shape for an M×N output. On a GPU, big tiles only when they still give enough workgroups to
 * fill it; a CPU rasteriser (a few cores) needs far fewer workgroups.
 */
export function pickTile(m: number, n: number, batch: number, software = false): TileConfig {
  if (n <= 32) return NARROW_TILE;
  const bigGroups = Math.ceil(m / 128) * Math.ceil(n / 128) * batch;
  if (bigGroups >= (software ? 16 : 128)) return BIG_TILE;
  return MEDIUM_TILE;
}

/** Everything a GEMM kernel bakes in. Implicit GEMMs (convolutions) replace how B is addressed. */
export interface Operands {
  a: Tensor;
  b: Tensor;
  bias: Tensor | undefined;
  addTo: Tensor | undefined;
  alpha: number;
  batch: number[];
  m: number;
  n: number;
  k: number;
  /** Per-row (M) bias, e.g. a convolution's per-output-channel bias. */
  rowBias?: Tensor;
  /** View whose leading dims give B's batch offset (default: B itself). */
  bBatchView?: View;
  /** WGSL `fn load_b(gk: u32, gn: u32, base: u32) -> f32` replacing strided B reads (implicit GEMM). */
  loadB?: string;
}

/** Element strides of `t` along each broadcast batch dim (0 where it is broadcast). */
export function batchStrides(t: View, batch: readonly number[]): number[] {
  const lead = batch.length - (t.shape.length - 2);
  return batch.map((n, d) => {
    if (d < lead) return 0;
    const src = t.shape[d - lead]!;
    return src === 1 && n !== 1 ? 0 : t.strides[d - lead]!;
  });
}

function batchOffset(name: string, t: View, batch: readonly number[]): string {
  const s = batchStrides(t, batch);
  const terms = [u32lit(t.offset), ...s.flatMap((v, d) => (v ? [`z${d} * ${u32lit(v)}`] : []))];
  return `let ${name} = ${terms.join(" + ")};`;
}

/** Epilogue statements writing value `v` at (gm, gn) of the output, adding bias and addTo. */
export function epilogue(ops: Operands): string {
  const lines = [`var v = ${ops.alpha === 1 ? "acc_v" : `${f32lit(ops.alpha)} * acc_v`};`];
  if (ops.bias) lines.push(`v += ld_bias(${u32lit(ops.bias.offset)} + gn * ${u32lit(ops.bias.strides[0]!)});`);
  if (ops.rowBias) {
    lines.push(`v += ld_rbias(${u32lit(ops.rowBias.offset)} + gm * ${u32lit(ops.rowBias.strides[0]!)});`);
  }
  if (ops.addTo) {
    const c = ops.addTo;
    const rank = c.shape.length;
    const sm = rank >= 2 && c.shape[rank - 2] !== 1 ? c.strides[rank - 2]! : 0;
    const sn = rank >= 1 && c.shape[rank - 1] !== 1 ? c.strides[rank - 1]! : 0;
    lines.push(`v += ld_c(cBase + gm * ${u32lit(sm)} + gn * ${u32lit(sn)});`);
  }
  lines.push(`out[oBase + gm * ${u32lit(ops.n)} + gn] = ${storeCast("f32", "v")};`);
  return lines.join("\n        ");
}

export function addToView(c: Tensor, ops: Operands): View {
  // Pad addTo to [...batch, M, N] rank so batchStrides can read its leading dims.
  const rank = ops.batch.length + 2;
  const pad = rank - c.rank;
  return {
    dtype: c.dtype,
    shape: [...new Array<number>(Math.max(0, pad)).fill(1), ...c.shape],
    strides: [...new Array<number>(Math.max(0, pad)).fill(0), ...c.strides],
    offset: c.offset,
  };
}

export function prelude(ops: Operands): { decls: string; buffers: Array<GPUBuffer | GPUBufferBinding>; bases: string } {
  const { a, b, bias, addTo, rowBias } = ops;
  const decls = [
    header([a.dtype, b.dtype, ...[bias, addTo, rowBias].flatMap((t) => (t ? [t.dtype] : []))]),
    binding(0, "out", "f32", true),
    binding(1, "a", a.dtype, false),
    binding(2, "b", b.dtype, false),
    loader("a", a.dtype),
    loader("b", b.dtype),
  ];
  const buffers = [bindingOf(a), bindingOf(b)];
  let next = 3;
  if (bias) {
    decls.push(binding(next++, "bias", bias.dtype, false), loader("bias", bias.dtype));
    buffers.push(bindingOf(bias));
  }
  if (addTo) {
    decls.push(binding(next++, "c", addTo.dtype, false), loader("c", addTo.dtype));
    buffers.push(bindingOf(addTo));
  }
  if (rowBias) {
    decls.push(binding(next++, "rbias", rowBias.dtype, false), loader("rbias", rowBias.dtype));
    buffers.push(bindingOf(rowBias));
  }
  if (ops.loadB) decls.push(ops.loadB);
  const bases = [
    coords(ops.batch, "wid.z", "z"),
    batchOffset("aBase", a, ops.batch),
    batchOffset("bBase", ops.bBatchView ?? b, ops.batch),
    ...(addTo ? [batchOffset("cBase", addToView(addTo, ops), ops.batch)] : []),
    `let oBase = wid.z * ${u32lit(ops.m * ops.n)};`,
  ].join("\n  ");
  return { decls: decls.join("\n"), buffers, bases };
}

/**
 * The register-tiled SIMT kernel: A and B tiles staged in workgroup memory (B as vec4 rows), each
 * thread accumulating a TM×TN block in straight-line vec4 registers (no private arrays, which
 * compilers may leave in memory).
 */
export function tiledWgsl(ops: Operands, t: TileConfig): string {
  const { a, b, m, n, k } = ops;
  const threads = (t.bm / t.tm) * (t.bn / t.tn);
  const [sam, sak] = [a.strides[a.rank - 2]!, a.strides[a.rank - 1]!];
  const [sbk, sbn] = [b.strides[b.rank - 2]!, b.strides[b.rank - 1]!];
  const aKFast = sak === 1;
  const bn4 = t.bn / 4;
  const tn4 = t.tn / 4;
  const { decls, bases } = prelude(ops);
  const rows = [...Array(t.tm).keys()];
  const cols = [...Array(tn4).keys()];
  const accDecl = rows.flatMap((i) => cols.map((j) => `var acc${i}_${j} = vec4<f32>(0.0);`)).join(" ");
  const inner = [
    ...cols.map((j) => `let b${j} = Bs[kk * ${bn4}u + tc4 + ${j}u];`),
    ...rows.map((i) => `let a${i} = As[kk * ${t.bm}u + tr + ${i}u];`),
    ...rows.flatMap((i) => cols.map((j) => `acc${i}_${j} = fma(vec4<f32>(a${i}), b${j}, acc${i}_${j});`)),
  ].join("\n      ");
  const store = rows
    .flatMap((i) =>
      cols.flatMap((j) =>
        [0, 1, 2, 3].map(
          (c) => `{ let gm = tileM + tr + ${i}u; let gn = tileN + (tc4 + ${j}u) * 4u + ${c}u;
    if (gm < ${u32lit(m)} && gn < ${u32lit(n)}) { let acc_v = acc${i}_${j}[${c}]; ${epilogue(ops)} } }`,
        ),
      ),
    )
    .join("\n  ");
  const readB = (c: number): string =>
    ops.loadB ? `load_b(gk, gn + ${c}u, bBase)` : `ld_b(bBase + gk * ${u32lit(sbk)} + (gn + ${c}u) * ${u32lit(sbn)})`;
  const ldB = (c: number): string => `if (gn + ${c}u < ${u32lit(n)} && inK) { v[${c}] = ${readB(c)}; }`;
  return `${decls}
var<workgroup> As: array<f32, ${t.bk * t.bm}>;
var<workgroup> Bs: array<vec4<f32>, ${t.bk * bn4}>;
@compute @workgroup_size(${threads}) fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  ${bases}
  let tileM = wid.y * ${t.bm}u;
  let tileN = wid.x * ${t.bn}u;
  let tr = (lid / ${t.bn / t.tn}u) * ${t.tm}u;
  let tc4 = (lid % ${t.bn / t.tn}u) * ${tn4}u;
  ${accDecl}
  for (var k0 = 0u; k0 < ${u32lit(k)}; k0 += ${t.bk}u) {
    for (var i = lid; i < ${t.bm * t.bk}u; i += ${threads}u) {
      ${aKFast ? `let mm = i / ${t.bk}u; let kk = i % ${t.bk}u;` : `let kk = i / ${t.bm}u; let mm = i % ${t.bm}u;`}
      let gm = tileM + mm; let gk = k0 + kk;
      var v = 0.0;
      if (gm < ${u32lit(m)} && gk < ${u32lit(k)}) { v = ld_a(aBase + gm * ${u32lit(sam)} + gk * ${u32lit(sak)}); }
      As[kk * ${t.bm}u + mm] = v;
    }
    for (var i = lid; i < ${t.bk * bn4}u; i += ${threads}u) {
      let kk = i / ${bn4}u; let gn = tileN + (i % ${bn4}u) * 4u; let gk = k0 + kk;
      let inK = gk < ${u32lit(k)};
      var v = vec4<f32>(0.0);
      ${[0, 1, 2, 3].map(ldB).join("\n      ")}
      Bs[i] = v;
    }
    workgroupBarrier();
    for (var kk = 0u; kk < ${t.bk}u; kk++) {
      ${inner}
    }
    workgroupBarrier();
  }
  ${store}
}`;
}

/** One output per thread, straight from global memory: the baseline benchmarks compare against. */
function naiveWgsl(ops: Operands): string {
  const { a, b, m, n, k } = ops;
  const { decls, bases } = prelude(ops);
  return `${decls}
@compute @workgroup_size(8, 8) fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  ${bases}
  let gm = wid.y * 8u + lid.y;
  let gn = wid.x * 8u + lid.x;
  if (gm >= ${u32lit(m)} || gn >= ${u32lit(n)}) { return; }
  var acc_v = 0.0;
  for (var kk = 0u; kk < ${u32lit(k)}; kk++) {
    acc_v = fma(ld_a(aBase + gm * ${u32lit(a.strides[a.rank - 2]!)} + kk * ${u32lit(a.strides[a.rank - 1]!)}),
                ld_b(bBase + kk * ${u32lit(b.strides[b.rank - 2]!)} + gn * ${u32lit(b.strides[b.rank - 1]!)}), acc_v);
  }
  ${epilogue(ops)}
}`;
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
  if (!isFloat(a.dtype) || !isFloat(b.dtype)) throw new A2VError("bad_dtype", "matmul needs float tensors");
  const batch = broadcastShapes(a.shape.slice(0, -2), b.shape.slice(0, -2));
  if (opts.bias && (opts.bias.rank !== 1 || opts.bias.shape[0] !== n)) {
    throw new A2VError("shape_mismatch", `matmul bias must be [${n}], got ${fmtShape(opts.bias.shape)}`);
  }
  if (opts.addTo) broadcastShapes(opts.addTo.shape, [...batch, m, n]);
  return { a, b, bias: opts.bias, addTo: opts.addTo, alpha: opts.alpha ?? 1, batch, m, n, k };
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
  const extras = [opts.bias, opts.addTo].filter((t): t is Tensor => t !== undefined);
  // The CPU device: one f64 implementation for every variant.
  if (deviceOf([a, b, ...extras]) === "cpu") return cpuMatmul(operands(a, b, opts));
  return withWindows([a, b, ...extras], ([wa, wb, ...rest]) => {
    const wopts: MatmulOptions = { ...opts };
    if (opts.bias) wopts.bias = rest.shift()!;
    if (opts.addTo) wopts.addTo = rest.shift()!;
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
  const panels = auto || variant === "panel" ? planPanels(ops, runtime, variant === "panel") : undefined;
  if (panels) {
    panelMatmul(ops, panels, out);
    return out;
  }
  const sgmat = auto ? runtime.sgmat : undefined;
  // CPU adapters: small products on the uniform-parameterised kernel (few pipelines, fast to compile).
  if ((auto && !sgmat && smallApplies(ops, runtime)) || (variant === "small" && smallApplies(ops, runtime, true))) {
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
  const addToFlat =
    !opts.addTo || opts.addTo.rank <= 2 || (opts.addTo.isContiguous && opts.addTo.shape.join() === outShape.join());
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
  // dA needs B and dB needs A: save only those, so a frozen weight's input activation is not kept.
  const keepA = b.needsGrad;
  const keepB = a.needsGrad;
  const saved = [...(keepA ? [a] : []), ...(keepB ? [b] : [])];
  return track("matmul", out, inputs, saved, (g, s, needs) => {
    const sa = keepA ? s[0] : undefined;
    const sb = keepB ? s[keepA ? 1 : 0] : undefined;
    const grads: Array<Tensor | undefined> = [];
    grads.push(needs[0] ? sumTo(matmulRaw(g, transpose(sb!), { alpha }), a.shape) : undefined);
    grads.push(needs[1] ? sumTo(matmulRaw(transpose(sa!), g, { alpha }), b.shape) : undefined);
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
  const at = transpose(a);
  const bt = transpose(b);
  const down = matmul(x, at);
  const out = matmul(down, bt, { alpha: s, addTo: base });
  for (const t of [base, at, bt, down]) t.dispose();
  return out;
}
