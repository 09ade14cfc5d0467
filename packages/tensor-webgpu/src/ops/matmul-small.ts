import { binding, header, loader } from "../codegen.js";
import type { Runtime } from "../runtime.js";
import type { Tensor } from "../tensor.js";
import { bindingOf } from "../window.js";
import { addToView, batchStrides, type Operands } from "./gemm-codegen.js";
import { MIN_BATCH_MACS, MIN_MACS } from "./matmul-panel.js";

/**
 * Small GEMMs on CPU adapters (lavapipe), where the register-tiled kernel is a bad fit: it bakes shapes and
 * strides into its WGSL and unrolls a TM×TN block with its bounds-checked stores, so every distinct small product
 * of a training step is its own pipeline, and Mesa/LLVM takes 1–5 s to compile each one. A tiny training step
 * issues a few hundred distinct ones (minutes of compilation on a fresh shader cache, for products that then run
 * in microseconds). This kernel takes shapes, strides, offsets and batch strides as uniforms and keeps its loop
 * body short, so a handful of pipelines (one per operand dtype and epilogue) serve every small product and each
 * compiles in well under a second. Each thread computes four adjacent outputs of one row.
 */

/** Threads per workgroup. */
const THREADS = 64;
/** Batch dims the uniform can describe (a product with more keeps the tiled kernel). */
const MAX_BATCH_DIMS = 4;
const MAX_GROUPS = 65535;

/** Per-dispatch parameters (params() fills the words in this order). */
const PARAMS = `struct Params {
  m: u32, n: u32, k: u32, quads: u32,
  a_off: u32, a_row: u32, a_col: u32, alpha: f32,
  b_off: u32, b_row: u32, b_col: u32, bias_off: u32,
  bias_col: u32, c_off: u32, c_row: u32, c_col: u32,
  dims: vec4<u32>,
  a_bs: vec4<u32>,
  b_bs: vec4<u32>,
  c_bs: vec4<u32>,
}`;

/**
 * Whether the small kernel runs this product: on CPU adapters, products below the packed-panel kernel's size
 * thresholds (any product and adapter with `force`), with plain strided operands (not implicit GEMMs or row
 * biases) and a grid within the limits.
 */
export function smallApplies(ops: Operands, runtime: Runtime, force = false): boolean {
  if (ops.loadB || ops.rowBias || ops.batch.length > MAX_BATCH_DIMS) return false;
  const batch = ops.batch.reduce((x, y) => x * y, 1);
  const macs = ops.m * ops.n * ops.k;
  // The products the packed-panel kernel leaves alone for their size (larger ones keep their tiled pipelines).
  if (!force && (!runtime.gpu.info.isSoftware || (batch * macs >= MIN_MACS && macs >= MIN_BATCH_MACS))) return false;
  return batch <= MAX_GROUPS && Math.ceil((ops.m * Math.ceil(ops.n / 4)) / THREADS) <= MAX_GROUPS;
}

function smallWgsl(ops: Operands): string {
  const { a, b, bias, addTo } = ops;
  const decls = [
    header([a.dtype, b.dtype, ...[bias, addTo].flatMap((t) => (t ? [t.dtype] : []))]),
    binding(0, "out", "f32", true),
    binding(1, "a", a.dtype, false),
    binding(2, "b", b.dtype, false),
    loader("a", a.dtype),
    loader("b", b.dtype),
  ];
  let next = 3;
  if (bias) decls.push(binding(next++, "bias", bias.dtype, false), loader("bias", bias.dtype));
  if (addTo) decls.push(binding(next++, "c", addTo.dtype, false), loader("c", addTo.dtype));
  decls.push(PARAMS, `@group(0) @binding(${next}) var<uniform> p: Params;`);
  const epilogue = [
    bias ? "v += ld_bias(p.bias_off + gn * p.bias_col);" : "",
    addTo ? "v += ld_c(cBase + gm * p.c_row + gn * p.c_col);" : "",
  ].join(" ");
  return `${decls.join("\n")}
fn dot4(x: vec4<u32>, y: vec4<u32>) -> u32 { return x.x * y.x + x.y * y.y + x.z * y.z + x.w * y.w; }
@compute @workgroup_size(${THREADS}) fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let e = wid.x * ${THREADS}u + lid;
  if (e >= p.m * p.quads) { return; }
  let gm = e / p.quads;
  let n0 = (e % p.quads) * 4u;
  // Batch coordinates of wid.y, innermost dim last (dims are padded with 1 in front).
  let z = vec4<u32>(wid.y / (p.dims.y * p.dims.z * p.dims.w), wid.y / (p.dims.z * p.dims.w), wid.y / p.dims.w, wid.y) % p.dims;
  let aBase = p.a_off + dot4(z, p.a_bs);
  let bBase = p.b_off + dot4(z, p.b_bs);
  let cBase = p.c_off + dot4(z, p.c_bs);
  let aRow = aBase + gm * p.a_row;
  // Columns past N read column N - 1 (always in range) and are not stored.
  let cols = min(vec4<u32>(n0) + vec4<u32>(0u, 1u, 2u, 3u), vec4<u32>(p.n - 1u)) * p.b_col + vec4<u32>(bBase);
  var acc = vec4<f32>(0.0);
  for (var kk = 0u; kk < p.k; kk++) {
    let x = ld_a(aRow + kk * p.a_col);
    let r = kk * p.b_row;
    acc = fma(vec4<f32>(x), vec4<f32>(ld_b(cols.x + r), ld_b(cols.y + r), ld_b(cols.z + r), ld_b(cols.w + r)), acc);
  }
  let o = wid.y * p.m * p.n + gm * p.n;
  for (var c = 0u; c < 4u; c++) {
    let gn = n0 + c;
    if (gn < p.n) {
      var v = p.alpha * acc[c];
      ${epilogue}
      out[o + gn] = v;
    }
  }
}`;
}

/** The uniform words: shapes, 2-D strides and offsets, and per-batch-dim sizes and strides (padded to 4). */
function params(ops: Operands): ArrayBuffer {
  const { a, b, bias, addTo, m, n, k } = ops;
  const words = new Uint32Array(32);
  const f = new Float32Array(words.buffer);
  const quads = Math.ceil(n / 4);
  words.set([m, n, k, quads, a.offset, a.strides[a.rank - 2]!, a.strides[a.rank - 1]!]);
  f[7] = ops.alpha;
  words.set([b.offset, b.strides[b.rank - 2]!, b.strides[b.rank - 1]!], 8);
  if (bias) words.set([bias.offset, bias.strides[0]!], 11);
  if (addTo) {
    const r = addTo.rank;
    const row = r >= 2 && addTo.shape[r - 2] !== 1 ? addTo.strides[r - 2]! : 0;
    const col = r >= 1 && addTo.shape[r - 1] !== 1 ? addTo.strides[r - 1]! : 0;
    words.set([addTo.offset, row, col], 13);
  }
  const pad = <T>(xs: readonly T[], fill: T): T[] => [...new Array<T>(MAX_BATCH_DIMS - xs.length).fill(fill), ...xs];
  words.set(pad(ops.batch, 1), 16);
  words.set(pad(batchStrides(a, ops.batch), 0), 20);
  words.set(pad(batchStrides(b, ops.batch), 0), 24);
  if (addTo) words.set(pad(batchStrides(addToView(addTo, ops), ops.batch), 0), 28);
  return words.buffer;
}

const kernels = new Map<string, string>();

/** Records the product into `out` ([...batch, M, N], contiguous f32): one dispatch, one workgroup row per batch element. */
export function smallMatmul(ops: Operands, out: Tensor): void {
  const { a, b, bias, addTo } = ops;
  const key = `${a.dtype} ${b.dtype} ${bias?.dtype} ${addTo?.dtype}`;
  let wgsl = kernels.get(key);
  if (wgsl === undefined) {
    wgsl = smallWgsl(ops);
    kernels.set(key, wgsl);
  }
  const buffers = [
    bindingOf(out),
    bindingOf(a),
    bindingOf(b),
    ...[bias, addTo].flatMap((t) => (t ? [bindingOf(t)] : [])),
  ];
  const batch = ops.batch.reduce((x, y) => x * y, 1);
  const groups = Math.ceil((ops.m * Math.ceil(ops.n / 4)) / THREADS);
  out.storage.runtime.dispatch(wgsl, buffers, [groups, batch], params(ops));
}
