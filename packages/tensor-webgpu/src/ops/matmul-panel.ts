import { binding, coords, grid, groupIndex, header, loader, u32lit } from "../codegen.js";
import type { Runtime } from "../runtime.js";
import type { Tensor } from "../tensor.js";
import { bindingOf } from "../window.js";
import { addToView, batchStrides, type Operands } from "./gemm-codegen.js";
import { transpose } from "./shape.js";

/**
 * GEMM for CPU adapters (lavapipe). llvmpipe runs a subgroup's invocations as one SIMD vector and turns
 * every storage or workgroup-memory load whose address is not a compile-time constant into a scalar
 * loop over the lanes, with a branch and a bounds check per lane, while uniform-buffer loads become
 * branch-free gathers.
 * So B is packed into panels of 4·S columns (S = subgroup size) of at most 64 KiB, the uniform binding
 * limit, and each lane reads one vec4 of B per k from a panel. Each lane also loads one vec4 of A along k
 * per row, which subgroupShuffle shares with the other lanes: one A load serves 4·S products.
 * Shapes, strides and offsets are uniform parameters, so a few pipelines serve every shape.
 */

/** Rows of C per workgroup (one subgroup): 8 vec4 accumulators per lane. */
const ROWS = 8;
/** Bytes one uniform binding may cover (WebGPU's default and lavapipe's maximum). */
const UNIFORM_BYTES = 65536;
/** Products below this many multiply-adds stay on the tiled kernel: two dispatches cost more there. */
export const MIN_MACS = 1 << 18;
/** Nor do batched products with less than this per batch element (each element is its own dispatch). */
export const MIN_BATCH_MACS = 1 << 15;
/** Products with fewer rows than this (and than columns) run transposed, see PanelPlan.swap. */
const SWAP_ROWS = 64;

/**
 * How a GEMM is split: packed B panels of `width` columns, K chunks of `chunk` rows, and `group` panels
 * per uniform window when K fits one chunk (one dispatch then covers several panels).
 */
export interface PanelPlan {
  subgroup: number;
  width: number;
  chunk: number;
  panels: number;
  chunks: number;
  group: number;
  /**
   * Computes Cᵀ = Bᵀ·Aᵀ instead (A is packed): for few rows and many columns, e.g. a LoRA weight gradient
   * [r, T]·[T, d], this gives more row blocks and packs the smaller operand. The result is then
   * stored transposed, one lane loop per element.
   */
  swap: boolean;
  /** Batch elements (product of the broadcast batch dims), and how many distinct B's get packed (1 or all). */
  batch: number;
  packedBatches: number;
}

/** The subgroup size the panel kernel is built for: the adapter's, when it has subgroups of one fixed size. */
export function panelSubgroup(runtime: Runtime): number | undefined {
  const { info } = runtime.gpu;
  const s = info.subgroupMinSize;
  return runtime.gpu.has("subgroups") && s && s === info.subgroupMaxSize ? s : undefined;
}

/** A plan when this GEMM should (or, with `force`, can) run on packed panels; undefined otherwise. */
export function planPanels(ops: Operands, runtime: Runtime, force = false): PanelPlan | undefined {
  const { info } = runtime.gpu;
  const s = panelSubgroup(runtime);
  if (!s) return undefined;
  const batch = ops.batch.reduce((x, y) => x * y, 1);
  const macs = ops.m * ops.n * ops.k;
  if (!force && (!info.isSoftware || batch * macs < MIN_MACS || macs < MIN_BATCH_MACS)) return undefined;
  // Implicit GEMMs (convolutions), row biases and empty sums (K = 0) keep the tiled kernel.
  if (ops.loadB || ops.rowBias || ops.k === 0) return undefined;
  // Transposed only for few rows: its strided stores are slow where rows are 4 KiB apart (N = 1024·j).
  const swap = !ops.bias && !ops.addTo && ops.m < Math.min(ops.n, SWAP_ROWS) && ops.a.dtype === "f32";
  if (!swap && ops.b.dtype !== "f32") return undefined;
  const [m, n, k] = swap ? [ops.n, ops.m, ops.k] : [ops.m, ops.n, ops.k];
  if (Math.ceil(m / ROWS) > 65535) return undefined;
  const width = 4 * s;
  const maxChunk = UNIFORM_BYTES / (4 * width);
  const step = 4 * s;
  const padded = Math.ceil(k / step) * step;
  const chunk = Math.min(maxChunk, 2 ** Math.ceil(Math.log2(padded)));
  const chunks = Math.ceil(k / chunk);
  const panels = Math.ceil(n / width);
  const group = chunks === 1 ? Math.min(panels, maxChunk / chunk) : 1;
  const packedOperand = swap ? ops.a : ops.b;
  const packedBatches = batchStrides(packedOperand, ops.batch).some((v) => v !== 0) ? batch : 1;
  // The pack kernel writes the whole packed copy through one binding.
  if (panels * chunks * chunk * width * 4 * packedBatches + UNIFORM_BYTES > runtime.maxBinding) return undefined;
  return { subgroup: s, width, chunk, panels, chunks, group, swap, batch, packedBatches };
}

/**
 * Writes B [K, N] (any strides) into panel-major f32: [panel][chunk][k in chunk][column in panel],
 * zero-padded. One thread per four columns: one vec4 store, and one vec4 load when B rows allow it.
 */
function packWgsl(ops: Operands, plan: PanelPlan): string {
  const { b, k, n } = ops;
  const [sbk, sbn] = [b.strides[b.rank - 2]!, b.strides[b.rank - 1]!];
  const perBatch = (plan.panels * plan.chunks * plan.chunk * plan.width) / 4;
  const quads = perBatch * plan.packedBatches;
  const zStrides = plan.packedBatches > 1 ? batchStrides(b, ops.batch) : [];
  const rowVec4 = b.dtype === "f32" && sbn === 1 && [sbk, b.offset, n, ...zStrides].every((v) => v % 4 === 0);
  // B's element offset for batch element z (coordinates decomposed from z; broadcast dims have stride 0).
  const zBase = [u32lit(b.offset), ...zStrides.flatMap((st, d) => (st ? [`zc${d} * ${u32lit(st)}`] : []))].join(" + ");
  const read = rowVec4
    ? `v = b[(bBase + gk * ${u32lit(sbk)} + gn) / 4u];`
    : [0, 1, 2, 3]
        .map(
          (c) =>
            `if (gn + ${c}u < ${u32lit(n)}) { v[${c}] = ld_b(bBase + gk * ${u32lit(sbk)} + (gn + ${c}u) * ${u32lit(sbn)}); }`,
        )
        .join("\n    ");
  const q = plan.width / 4;
  return `${header([b.dtype])}
@group(0) @binding(0) var<storage, read_write> packed: array<vec4<f32>>;
${rowVec4 ? "@group(0) @binding(1) var<storage, read> b: array<vec4<f32>>;" : `${binding(1, "b", b.dtype, false)}\n${loader("b", b.dtype)}`}
@compute @workgroup_size(64) fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let e = ${groupIndex(Math.ceil(quads / 64))} * 64u + lid;
  if (e >= ${u32lit(quads)}) { return; }
  let z = e / ${u32lit(perBatch)};
  ${plan.packedBatches > 1 ? coords(ops.batch, "z", "zc") : ""}
  let bBase = ${zBase};
  let j = (e % ${u32lit(q)}) * 4u;
  let kk = (e / ${u32lit(q)}) % ${u32lit(plan.chunk)};
  let c = (e / ${u32lit(q * plan.chunk)}) % ${u32lit(plan.chunks)};
  let p = (e / ${u32lit(q * plan.chunk * plan.chunks)}) % ${u32lit(plan.panels)};
  let gk = c * ${u32lit(plan.chunk)} + kk;
  let gn = p * ${u32lit(plan.width)} + j;
  var v = vec4<f32>(0.0);
  if (gk < ${u32lit(k)} && gn < ${u32lit(n)}) {
    ${read}
  }
  packed[e] = v;
}`;
}

/** Per-dispatch parameters, one uniform struct (params() fills the words in this order). */
const PARAMS = `struct Params {
  m: u32, n: u32, k: u32, n0: u32,
  k0: u32, klen: u32, first: u32, last: u32,
  a_off: u32, a_row: u32, a_col: u32, alpha: f32,
  bias_off: u32, bias_col: u32, c_off: u32, c_row: u32,
  c_col: u32, chunk: u32, o_row: u32, o_col: u32,
  o_base: u32, pad0: u32, pad1: u32, pad2: u32,
}`;

/** Whether A can be read as aligned vec4 along k (f32, k-contiguous, offset and strides multiples of 4). */
function vec4A(a: Tensor, batch: readonly number[]): boolean {
  const [sam, sak] = [a.strides[a.rank - 2]!, a.strides[a.rank - 1]!];
  return a.dtype === "f32" && sak === 1 && [sam, a.offset, ...batchStrides(a, batch)].every((v) => v % 4 === 0);
}

/** Whether addTo can be read as aligned vec4 along its rows (f32, column stride 1, offsets and strides × 4). */
function vec4Rows(c: Tensor, ops: Operands): boolean {
  const view = addToView(c, ops);
  const r = view.shape.length;
  const [row, col] = [view.shape[r - 2] === 1 ? 0 : view.strides[r - 2]!, view.strides[r - 1]!];
  const batch = batchStrides(view, ops.batch);
  return (
    c.dtype === "f32" && view.shape[r - 1] !== 1 && col === 1 && [row, c.offset, ...batch].every((v) => v % 4 === 0)
  );
}

function gemmWgsl(ops: Operands, plan: PanelPlan): string {
  const s = plan.subgroup;
  const { a, bias, addTo } = ops;
  const v4 = vec4A(a, ops.batch);
  // Whole vec4 stores when rows are a multiple of 4 long (the output is fresh and contiguous).
  const out4 = ops.n % 4 === 0 && !plan.swap;
  const rows = [...Array(ROWS).keys()];
  const decls = [
    out4 ? "@group(0) @binding(0) var<storage, read_write> out: array<vec4<f32>>;" : binding(0, "out", "f32", true),
    v4
      ? "@group(0) @binding(1) var<storage, read> a: array<vec4<f32>>;"
      : `${binding(1, "a", a.dtype, false)}\n${loader("a", a.dtype)}`,
    // Always the full binding, so one pipeline serves every chunk length (windows may overlap the next chunk).
    `@group(0) @binding(2) var<uniform> panel: array<vec4<f32>, ${UNIFORM_BYTES / 16}>;`,
  ];
  let next = 3;
  if (bias) decls.push(binding(next++, "bias", bias.dtype, false), loader("bias", bias.dtype));
  // addTo read as whole vec4s where a lane's 4 columns are contiguous and aligned (LoRA's base output).
  const c4 = !!addTo && out4 && vec4Rows(addTo, ops);
  if (addTo && c4) decls.push(`@group(0) @binding(${next++}) var<storage, read> c: array<vec4<f32>>;`);
  else if (addTo) decls.push(binding(next++, "c", addTo.dtype, false), loader("c", addTo.dtype));
  decls.push(PARAMS, `@group(0) @binding(${next}) var<uniform> p: Params;`);
  const f16 = [a, bias, addTo].some((t) => t?.dtype === "f16");
  // A's four k values for this lane, zero past K (a straddling vec4 would read the next row).
  const loadA = v4
    ? (i: number) =>
        `select(vec4<f32>(0.0), a[(p.a_off + r${i} * p.a_row + ka) / 4u], (vec4<u32>(ka) + vec4<u32>(0u, 1u, 2u, 3u)) < vec4<u32>(p.k))`
    : (i: number) =>
        `vec4<f32>(${[0, 1, 2, 3]
          .map((c) => `select(0.0, ld_a(p.a_off + r${i} * p.a_row + (ka + ${c}u) * p.a_col), ka + ${c}u < p.k)`)
          .join(", ")})`;
  const fmas = [0, 1, 2, 3]
    .map(
      (c) =>
        `{ let bv = panel[(pbase + kc + 4u * j + ${c}u) * ${u32lit(s)} + lane]; ${rows.map((i) => `acc${i} = fma(vec4<f32>(ab${i}[${c}]), bv, acc${i});`).join(" ")} }`,
    )
    .join("\n        ");
  // Partial sums of earlier K chunks are in `out`; alpha, bias and addTo apply after the last chunk.
  const cols = [0, 1, 2, 3];
  const addC = !addTo
    ? ""
    : c4
      ? "v += c[(p.c_off + gm * p.c_row + gn) / 4u];"
      : `v += vec4<f32>(${cols.map((c) => `ld_c(p.c_off + gm * p.c_row + min(gn + ${c}u, p.n - 1u) * p.c_col)`).join(", ")});`;
  const finish = `if (p.last == 1u) { v = v * p.alpha${bias ? " + bv4" : ""}; ${addC} }`;
  const stores = rows
    .map((i) => {
      const head = `{ let gm = m0 + ${i}u; let gn = n0 + lane * 4u;
    if (gm < p.m && gn < p.n) {
      var v = acc${i};`;
      if (out4) {
        return `${head}
      let o = (p.o_base + gm * p.n + gn) / 4u;
      if (p.first == 0u) { v += out[o]; }
      ${finish}
      out[o] = v;
    } }`;
      }
      return `${head}
      let o = p.o_base + gm * p.o_row + gn * p.o_col;
      if (p.first == 0u) { v += vec4<f32>(${cols.map((c) => `out[o + min(${c}u, p.n - 1u - gn) * p.o_col]`).join(", ")}); }
      ${finish}
      for (var c = 0u; c < min(4u, p.n - gn); c++) { out[o + c * p.o_col] = v[c]; }
    } }`;
    })
    .join("\n  ");
  const biasLoad = bias
    ? `let bv4 = vec4<f32>(${cols.map((c) => `ld_bias(p.bias_off + min(n0 + lane * 4u + ${c}u, p.n - 1u) * p.bias_col)`).join(", ")});`
    : "";
  return `${f16 ? "enable f16;\n" : ""}enable subgroups;
${decls.join("\n")}
@compute @workgroup_size(${s}) fn main(@builtin(workgroup_id) wid: vec3u, @builtin(subgroup_invocation_id) lane: u32) {
  let m0 = wid.x * ${ROWS}u;
  // wid.y picks one of the window's panels.
  let n0 = p.n0 + wid.y * ${u32lit(plan.width)};
  let pbase = wid.y * p.chunk;
  ${rows.map((i) => `let r${i} = min(m0 + ${i}u, p.m - 1u); var acc${i} = vec4<f32>(0.0);`).join("\n  ")}
  for (var kc = 0u; kc < p.klen; kc += ${u32lit(4 * s)}) {
    let ka = p.k0 + kc + 4u * lane;
    ${rows.map((i) => `let av${i} = ${loadA(i)};`).join("\n    ")}
    for (var j = 0u; j < ${u32lit(s)}; j++) {
      ${rows.map((i) => `let ab${i} = subgroupShuffle(av${i}, j);`).join(" ")}
      ${fmas}
    }
  }
  ${biasLoad}
  ${stores}
}`;
}

/** Element offset of batch element `z` in a view, given its strides along the batch dims. */
function batchOffset(z: number, batch: readonly number[], strides: readonly number[]): number {
  let offset = 0;
  for (let d = batch.length - 1; d >= 0; d--) {
    offset += (z % batch[d]!) * strides[d]!;
    z = Math.floor(z / batch[d]!);
  }
  return offset;
}

/** Uniforms of the dispatch for batch element `z`, panels from `panel` on and K chunk `chunk`. */
function params(ops: Operands, plan: PanelPlan, z: number, panel: number, chunk: number): ArrayBuffer {
  const { a, bias, addTo, m, n, k } = ops;
  const words = new Uint32Array(24);
  const f = new Float32Array(words.buffer);
  const k0 = chunk * plan.chunk;
  const klen = Math.ceil(Math.min(plan.chunk, k - k0) / (4 * plan.subgroup)) * 4 * plan.subgroup;
  words.set([m, n, k, panel * plan.width, k0, klen, chunk === 0 ? 1 : 0, chunk === plan.chunks - 1 ? 1 : 0]);
  const aOffset = a.offset + batchOffset(z, ops.batch, batchStrides(a, ops.batch));
  words.set([aOffset, a.strides[a.rank - 2]!, a.strides[a.rank - 1]!], 8);
  words[20] = z * m * n;
  // Output strides: C is [M, N] row-major; a swapped product writes its [N, M] result transposed into it.
  words.set(plan.swap ? [plan.chunk, 1, m] : [plan.chunk, n, 1], 17);
  f[11] = ops.alpha;
  if (bias) words.set([bias.offset, bias.strides[0]!], 12);
  if (addTo) {
    const r = addTo.rank;
    const row = r >= 2 && addTo.shape[r - 2] !== 1 ? addTo.strides[r - 2]! : 0;
    const col = r >= 1 && addTo.shape[r - 1] !== 1 ? addTo.strides[r - 1]! : 0;
    const cOffset = addTo.offset + batchOffset(z, ops.batch, batchStrides(addToView(addTo, ops), ops.batch));
    words.set([cOffset, row, col], 14);
  }
  return words.buffer;
}

/**
 * Generated WGSL by a short key of everything it depends on: a training step issues thousands of these
 * products, and regenerating (and hashing) the long kernel text each time costs more host time than
 * lavapipe spends on a small product.
 */
const kernels = new Map<string, string>();

function cached(key: string, make: () => string): string {
  let wgsl = kernels.get(key);
  if (wgsl === undefined) {
    wgsl = make();
    kernels.set(key, wgsl);
  }
  return wgsl;
}

function gemmKey(ops: Operands, plan: PanelPlan): string {
  const { a, bias, addTo } = ops;
  const c4 = addTo ? vec4Rows(addTo, ops) : false;
  return `gemm ${plan.subgroup} ${plan.swap} ${ops.n % 4 === 0} ${a.dtype} ${vec4A(a, ops.batch)} ${bias?.dtype} ${addTo?.dtype} ${c4}`;
}

function packKey(ops: Operands, plan: PanelPlan): string {
  const { b } = ops;
  const geometry = [plan.subgroup, plan.chunk, plan.chunks, plan.panels, plan.packedBatches];
  return `pack ${b.dtype} ${b.offset} ${b.strides} ${ops.k} ${ops.n} ${ops.batch} ${geometry}`;
}

/** Records the pack dispatch and one GEMM dispatch per (window of panels, K chunk) writing `out` [M, N]. */
export function panelMatmul(product: Operands, plan: PanelPlan, out: Tensor): void {
  const views = plan.swap ? [transpose(product.b), transpose(product.a)] : [];
  const ops = plan.swap ? { ...product, a: views[0]!, b: views[1]!, m: product.n, n: product.m } : product;
  const runtime = out.storage.runtime;
  const perBatch = plan.panels * plan.chunks * plan.chunk * plan.width;
  const total = perBatch * plan.packedBatches;
  // Slack so the last chunk's full-size window stays inside the buffer.
  const packed = packBuffer(runtime, (total + UNIFORM_BYTES / 4 - plan.chunk * plan.width) * 4);
  const pack = cached(packKey(ops, plan), () => packWgsl(ops, plan));
  runtime.dispatch(pack, [{ buffer: packed, size: total * 4 }, bindingOf(ops.b)], grid(Math.ceil(total / 4 / 64)));
  const wgsl = cached(gemmKey(ops, plan), () => gemmWgsl(ops, plan));
  const extras = [ops.bias, ops.addTo].flatMap((t) => (t ? [bindingOf(t)] : []));
  const bytes = plan.chunk * plan.width * 4;
  for (let z = 0; z < plan.batch; z++) {
    const base = (plan.packedBatches > 1 ? z : 0) * perBatch * 4;
    for (let panel = 0; panel < plan.panels; panel += plan.group) {
      for (let chunk = 0; chunk < plan.chunks; chunk++) {
        const offset = base + (panel * plan.chunks + chunk) * bytes;
        const window = { buffer: packed, offset, size: UNIFORM_BYTES };
        const buffers = [bindingOf(out), bindingOf(ops.a), window, ...extras];
        const groups: [number, number] = [Math.ceil(ops.m / ROWS), Math.min(plan.group, plan.panels - panel)];
        runtime.dispatch(wgsl, buffers, groups, params(ops, plan, z, panel, chunk));
      }
    }
  }
  for (const v of views) v.dispose();
}

/**
 * One packed-operand buffer per runtime, reused product after product. Dispatches run in order, so a pack
 * overwrites it only after the previous product's GEMMs have read it; a fresh pool buffer per product
 * would cost an allocation and Dawn's zero-fill each time within a batch.
 */
const scratch = new WeakMap<Runtime, GPUBuffer>();

function packBuffer(runtime: Runtime, bytes: number): GPUBuffer {
  let buffer = scratch.get(runtime);
  if (!buffer || buffer.size < bytes) {
    // Recorded dispatches may still read the old one: the pool reuses it only after this batch is submitted.
    if (buffer) runtime.pool.release(buffer, runtime.currentBatch);
    buffer = runtime.pool.acquire(bytes);
    scratch.set(runtime, buffer);
  }
  return buffer;
}
