import { A2VError } from "@a2v/errors";
import { track } from "../autograd.js";
import {
  binding,
  contiguousStrides,
  coords,
  f32lit,
  grid,
  groupIndex,
  header,
  loader,
  storeCast,
  u32lit,
  WG,
} from "../codegen.js";
import { cpuReduce, type ReduceOp } from "../cpu/linalg.js";
import { empty, fmtShape, type Tensor } from "../tensor.js";
import { bindingOf, withWindows } from "../window.js";
import { alias, map } from "./map.js";

/** Normalises axes (negative counts from the end), sorted and unique. */
export function normAxes(axes: number | readonly number[] | undefined, rank: number): number[] {
  const list = axes === undefined ? [...Array(rank).keys()] : typeof axes === "number" ? [axes] : [...axes];
  const out = list.map((a) => {
    const r = a < 0 ? a + rank : a;
    if (r < 0 || r >= rank)
      throw new A2VError("bad_axis", `Axis ${a} is out of range for rank ${rank}`, { status: 422 });
    return r;
  });
  return [...new Set(out)].sort((a, b) => a - b);
}

const RWG = 64;

/** The reduction kernel (no autograd): result has the reduced axes kept as size 1. */
function reduceRaw(x: Tensor, axes: number[], op: ReduceOp): Tensor {
  x.assertAlive();
  if (x.device === "cpu") return cpuReduce(x, axes, op);
  return withWindows([x], ([wx]) => reduceReady(wx!, axes, op));
}

function reduceReady(x: Tensor, axes: number[], op: ReduceOp): Tensor {
  const keepShape = x.shape.map((n, d) => (axes.includes(d) ? 1 : n));
  const out = empty(keepShape, "f32");
  const outer = x.shape.filter((_, d) => !axes.includes(d));
  const inner = axes.map((d) => x.shape[d]!);
  const nOut = out.size;
  const r = inner.reduce((a, b) => a * b, 1);
  if (nOut === 0) return out;
  // Offsets: outer coordinates "o", inner coordinates "i" mapped back to x's dims.
  const outerDims = x.shape.map((_, d) => d).filter((d) => !axes.includes(d));
  const term = (d: number): string => {
    const s = x.strides[d]!;
    if (x.shape[d] === 1 || s === 0) return "";
    const k = axes.indexOf(d);
    const c = k >= 0 ? `i${k}` : `o${outerDims.indexOf(d)}`;
    return ` + ${c} * ${u32lit(s)}`;
  };
  const base = `${u32lit(x.offset)}${outerDims.map(term).join("")}`;
  const innerOff = axes.map(term).join("");
  const init = op === "max" ? f32lit(Number.NEGATIVE_INFINITY) : "0.0";
  const combine = (a: string, b: string): string => (op === "max" ? `max(${a}, ${b})` : `${a} + ${b}`);
  const finish = op === "mean" ? `acc / ${f32lit(r)}` : "acc";
  const decl = `${header([x.dtype])}${binding(0, "out", "f32", true)}
${binding(1, "x", x.dtype, false)}
${loader("x", x.dtype)}`;
  let wgsl: string;
  let groups: number;
  if (r < RWG) {
    // Short reductions: one thread per output.
    groups = Math.ceil(nOut / WG);
    wgsl = `${decl}
@compute @workgroup_size(${WG}) fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let idx = ${groupIndex(groups)} * ${WG}u + lid;
  if (idx >= ${u32lit(nOut)}) { return; }
  ${coords(outer, "idx", "o")}
  let base = ${base};
  var acc = ${init};
  for (var j = 0u; j < ${u32lit(r)}; j++) {
    ${coords(inner, "j", "i")}
    acc = ${combine("acc", `ld_x(base${innerOff})`)};
  }
  out[idx] = ${finish};
}`;
  } else {
    groups = nOut;
    wgsl = `${decl}
var<workgroup> part: array<f32, ${RWG}>;
@compute @workgroup_size(${RWG}) fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let idx = ${groupIndex(groups)};
  ${coords(outer, "idx", "o")}
  let base = ${base};
  var acc = ${init};
  for (var j = lid; j < ${u32lit(r)}; j += ${RWG}u) {
    ${coords(inner, "j", "i")}
    acc = ${combine("acc", `ld_x(base${innerOff})`)};
  }
  part[lid] = acc;
  workgroupBarrier();
  for (var s = ${RWG / 2}u; s > 0u; s >>= 1u) {
    if (lid < s) { part[lid] = ${combine("part[lid]", "part[lid + s]")}; }
    workgroupBarrier();
  }
  if (lid == 0u) { acc = part[0]; out[idx] = ${storeCast("f32", finish)}; }
}`;
  }
  out.storage.runtime.dispatch(wgsl, [bindingOf(out), bindingOf(x)], grid(groups));
  return out;
}

function reduce(x: Tensor, axes: number | readonly number[] | undefined, op: ReduceOp, keepDims: boolean): Tensor {
  const ax = normAxes(axes, x.rank);
  const kept = reduceRaw(x, ax, op);
  const keepShape = kept.shape;
  let out = kept;
  if (!keepDims) {
    out = kept.view(
      x.shape.filter((_, d) => !ax.includes(d)),
      kept.strides.filter((_, d) => !ax.includes(d)),
      0,
    );
    kept.dispose();
  }
  const saved = op === "max" ? [x, out] : [];
  return track(op, out, [x], saved, (g, s) => {
    const gk = keepDims ? alias(g) : g.view(keepShape, keepStrides(g, x.rank, ax), g.offset);
    const r = ax.reduce((a, d) => a * x.shape[d]!, 1);
    if (op === "sum") return [map("x0", [gk], "f32", x.shape)];
    if (op === "mean") return [map(`x0 / ${f32lit(r)}`, [gk], "f32", x.shape)];
    const yk = keepDims ? alias(s[1]!) : s[1]!.view(keepShape, keepStrides(s[1]!, x.rank, ax), s[1]!.offset);
    return [map("select(0.0, x0, x1 == x2)", [gk, s[0]!, yk], "f32", x.shape)];
  });
}

/** Strides of `t` (reduced layout) re-expanded to rank `rank` with stride 0 at the reduced axes. */
function keepStrides(t: Tensor, rank: number, axes: number[]): number[] {
  const out: number[] = [];
  let k = 0;
  for (let d = 0; d < rank; d++) out.push(axes.includes(d) ? 0 : t.strides[k++]!);
  return out;
}

/** Sum over `axes` (all when omitted). */
export function sum(x: Tensor, axes?: number | readonly number[], keepDims = false): Tensor {
  return reduce(x, axes, "sum", keepDims);
}

export function mean(x: Tensor, axes?: number | readonly number[], keepDims = false): Tensor {
  return reduce(x, axes, "mean", keepDims);
}

/** Maximum over `axes`; the gradient goes to every element equal to the maximum. */
export function max(x: Tensor, axes?: number | readonly number[], keepDims = false): Tensor {
  return reduce(x, axes, "max", keepDims);
}

/** Sums a broadcast gradient back to `shape` (no autograd). Returns `g` itself when nothing to do. */
export function sumTo(g: Tensor, shape: readonly number[]): Tensor {
  if (g.shape.length === shape.length && g.shape.every((n, d) => n === shape[d])) return g;
  const lead = g.rank - shape.length;
  if (lead < 0) throw new A2VError("shape_mismatch", `sumTo: ${fmtShape(g.shape)} cannot reduce to ${fmtShape(shape)}`);
  const axes: number[] = [];
  for (let d = 0; d < g.rank; d++) if (d < lead || (shape[d - lead] === 1 && g.shape[d] !== 1)) axes.push(d);
  const kept = axes.length ? reduceRaw(g, axes, "sum") : g;
  const out = kept.view(shape, contiguousStrides(shape), kept.offset);
  if (kept !== g) kept.dispose();
  g.dispose();
  return out;
}
