import { binding, coords, f32lit, header, loader, storeCast, u32lit, type View } from "../codegen.js";
import type { Tensor } from "../tensor.js";
import { bindingOf } from "../window.js";

// GEMM code generation shared by the matmul kernels (matmul.ts, matmul-panel.ts, matmul-small.ts,
// matmul-sgmat.ts) and the implicit-GEMM convolution (conv.ts): the operands a kernel bakes in, their
// bindings and batch offsets, the epilogue (alpha, bias, addTo), and the tiled SIMT and naive kernels.

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
  /** Per-column (N) scale of the product, before bias and addTo (8-bit weights' per-channel scales). */
  colScale?: Tensor;
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

/** Epilogue statements writing value `v` at (gm, gn) of the output: alpha, column scale, bias and addTo. */
export function epilogue(ops: Operands): string {
  const lines = [`var v = ${ops.alpha === 1 ? "acc_v" : `${f32lit(ops.alpha)} * acc_v`};`];
  if (ops.colScale) {
    lines.push(`v *= ld_cscale(${u32lit(ops.colScale.offset)} + gn * ${u32lit(ops.colScale.strides[0]!)});`);
  }
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
  const { a, b, bias, addTo, rowBias, colScale } = ops;
  const decls = [
    header([a.dtype, b.dtype, ...[bias, addTo, rowBias, colScale].flatMap((t) => (t ? [t.dtype] : []))]),
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
  if (colScale) {
    decls.push(binding(next++, "cscale", colScale.dtype, false), loader("cscale", colScale.dtype));
    buffers.push(bindingOf(colScale));
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
export function naiveWgsl(ops: Operands): string {
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
