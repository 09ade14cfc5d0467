import { A2VError } from "@a2v/errors";
import { track } from "../autograd.js";
import {
  binding,
  coords,
  f32lit,
  grid,
  groupIndex,
  header,
  loader,
  MATH,
  offsetExpr,
  PACK_BF16,
  storeCast,
  u32lit,
  type View,
  WG,
} from "../codegen.js";
import { cpuMapInto } from "../cpu/map.js";
import { type DType, isFloat } from "../dtype.js";
import { type Device, deviceOf, empty, fmtShape, onDevice, type Tensor } from "../tensor.js";
import { bindingOf, withWindows } from "../window.js";
import { sumTo } from "./reduce.js";

/** Numpy-style broadcast of shapes. */
export function broadcastShapes(...shapes: Array<readonly number[]>): number[] {
  const rank = Math.max(...shapes.map((s) => s.length));
  const out = new Array<number>(rank).fill(1);
  for (const s of shapes) {
    for (let i = 0; i < s.length; i++) {
      const d = s[s.length - 1 - i]!;
      const j = rank - 1 - i;
      if (out[j] === 1) out[j] = d;
      else if (d !== 1 && d !== out[j]) {
        throw new A2VError("shape_mismatch", `Cannot broadcast shapes ${shapes.map(fmtShape).join(" and ")}`, {
          status: 422,
        });
      }
    }
  }
  return out;
}

/** The view of `t` broadcast to `shape` (stride 0 along broadcast dims), as the kernels read it. */
export function broadcastView(t: View, shape: readonly number[]): View {
  const lead = shape.length - t.shape.length;
  const strides = shape.map((n, d) => {
    if (d < lead) return 0;
    const src = t.shape[d - lead]!;
    return src === 1 && n !== 1 ? 0 : t.strides[d - lead]!;
  });
  return { dtype: t.dtype, shape, strides, offset: t.offset };
}

/** Result dtype of an elementwise op on these inputs: f16 only when every float input is f16. */
function resultDType(inputs: Tensor[]): DType {
  const floats = inputs.filter((t) => isFloat(t.dtype));
  return floats.length > 0 && floats.every((t) => t.dtype === "f16") ? "f16" : "f32";
}

export interface MapExtras {
  /** u32 words the expression reads as `U(i)` (bound as a uniform, so changing them never recompiles). */
  uniform?: Uint32Array;
  /** Extra WGSL functions the expression calls. */
  prelude?: string;
  /** The expression in JavaScript, for the CPU device when it calls `prelude` functions. */
  cpu?: (x: number[], e: number, U: (i: number) => number) => number;
}

/**
 * Writes `expr` (WGSL over f32 values x0..x{n-1}, the inputs broadcast to the output shape) into the
 * view `out`. The expression may also use `e` (the row-major output index) and `U(i)` (word i of
 * `uniform`, a u32; values that change every call go there so the pipeline is reused). bf16 outputs
 * must be contiguous: each thread then writes one packed word.
 */
export function mapInto(expr: string, inputs: Tensor[], out: Tensor, extra: MapExtras = {}): Tensor {
  for (const t of [...inputs, out]) t.assertAlive();
  if (deviceOf([out, ...inputs]) === "cpu") {
    cpuMapInto(expr, inputs, out, extra);
    return out;
  }
  withWindows([out, ...inputs], ([o, ...ins]) => mapReady(expr, ins, o!, extra));
  return out;
}

function mapReady(expr: string, inputs: Tensor[], out: Tensor, extra: MapExtras): void {
  const { uniform, prelude = "" } = extra;
  const n = out.size;
  if (n === 0) return;
  const packed = out.dtype === "bf16";
  if (packed && (!out.isContiguous || out.offset % 2 !== 0)) {
    throw new A2VError("bf16_view_write", "bf16 results can only be written to whole contiguous tensors");
  }
  const views = inputs.map((t) => broadcastView(t, out.shape));
  // f32 outputs whose rows are a multiple of 4 long and aligned: four elements per thread and one vec4 store (on
  // CPU adapters every store at a computed address is a loop over the lanes; see docs/perf.md).
  const last = out.shape.length - 1;
  const quad =
    out.dtype === "f32" &&
    last >= 0 &&
    out.strides[last] === 1 &&
    out.shape[last]! % 4 === 0 &&
    out.offset % 4 === 0 &&
    out.strides.every((st, d) => d === last || out.shape[d] === 1 || st % 4 === 0);
  const decls = [
    quad ? "@group(0) @binding(0) var<storage, read_write> out: array<vec4<f32>>;" : binding(0, "out", out.dtype, true),
    ...inputs.map((t, i) => binding(i + 1, `in${i}`, t.dtype, false)),
  ];
  const loads = views.map((v, i) => `let x${i} = ld_in${i}(${offsetExpr(v, "c")});`);
  const threads = packed ? Math.ceil(n / 2) : quad ? n / 4 : n;
  const groups = Math.ceil(threads / WG);
  const body = packed
    ? `let lo = value(2u * idx);
  let hi = select(0.0, value(2u * idx + 1u), 2u * idx + 1u < ${u32lit(n)});
  out[${u32lit(out.offset / 2)} + idx] = bf16_bits(lo) | (bf16_bits(hi) << 16u);`
    : quad
      ? `let e0 = 4u * idx;
  ${coords(out.shape, "e0", "o")}
  out[(${offsetExpr(out, "o")}) / 4u] = vec4<f32>(value(e0), value(e0 + 1u), value(e0 + 2u), value(e0 + 3u));`
      : `${coords(out.shape, "idx", "o")}
  out[${offsetExpr(out, "o")}] = ${storeCast(out.dtype, "value(idx)")};`;
  if (uniform) {
    const words = Math.max(1, Math.ceil(uniform.length / 4));
    decls.push(`@group(0) @binding(${inputs.length + 1}) var<uniform> params: array<vec4<u32>, ${words}>;`);
    decls.push("fn U(i: u32) -> u32 { return params[i >> 2u][i & 3u]; }");
  }
  const wgsl = `${header([out.dtype, ...inputs.map((t) => t.dtype)])}${decls.join("\n")}
${inputs.map((t, i) => loader(`in${i}`, t.dtype)).join("\n")}
${MATH}
${prelude}
${packed ? PACK_BF16 : ""}
fn value(e: u32) -> f32 {
  ${coords(out.shape, "e", "c")}
  ${loads.join("\n  ")}
  return ${expr};
}
@compute @workgroup_size(${WG}) fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let idx = ${groupIndex(groups)} * ${WG}u + lid;
  if (idx >= ${u32lit(threads)}) { return; }
  ${body}
}`;
  const rt = out.storage.runtime;
  const words = uniform ? new Uint32Array(Math.max(4, Math.ceil(uniform.length / 4) * 4)) : undefined;
  words?.set(uniform!);
  rt.dispatch(wgsl, [bindingOf(out), ...inputs.map(bindingOf)], grid(groups), words?.buffer);
}

/** A new tensor of `expr` over the broadcast inputs (no autograd; ops below add it). */
export function map(
  expr: string,
  inputs: Tensor[],
  dtype?: DType,
  shape?: readonly number[],
  extra: MapExtras = {},
): Tensor {
  const outShape = shape ?? broadcastShapes(...inputs.map((t) => t.shape));
  return mapInto(expr, inputs, empty(outShape, dtype ?? resultDType(inputs), deviceOf(inputs)), extra);
}

/** A tensor filled with `value` (on `device`, default: the default device). */
export function fill(shape: readonly number[], value: number, dtype: DType = "f32", device?: Device): Tensor {
  const make = () => map(f32lit(value), [], dtype, shape);
  return device ? onDevice(device, make) : make();
}

export function zeros(shape: readonly number[], dtype: DType = "f32", device?: Device): Tensor {
  return fill(shape, 0, dtype, device);
}

export function ones(shape: readonly number[], dtype: DType = "f32", device?: Device): Tensor {
  return fill(shape, 1, dtype, device);
}

/** A contiguous copy (optionally converted to `dtype`); differentiable. */
export function contiguous(x: Tensor, dtype: DType = x.dtype): Tensor {
  const out = map("x0", [x], dtype, x.shape);
  return track("contiguous", out, [x], [], (g) => [alias(g)]);
}

/** Converts to another dtype (bf16 and f16 round to nearest even; ints truncate). */
export function cast(x: Tensor, dtype: DType): Tensor {
  return contiguous(x, dtype);
}

type Operand = Tensor | number;

/** A new handle on the same view (so a gradient can be passed on while the caller disposes its own). */
export function alias(t: Tensor): Tensor {
  return t.view(t.shape, t.strides, t.offset);
}

/**
 * Evaluates a template over named operands: `{name}` becomes the operand (a literal for numbers).
 * The result has `shape` (the operands broadcast to it) and is f32.
 */
function evalTemplate(template: string, named: Record<string, Operand | undefined>, shape: readonly number[]): Tensor {
  const inputs: Tensor[] = [];
  const expr = template.replace(/\{(\w+)\}/g, (_, key: string) => {
    const v = named[key];
    if (v === undefined)
      throw new A2VError("template_operand_missing", `elementwise template operand {${key}} missing`);
    if (typeof v === "number") return `(${f32lit(v)})`;
    let i = inputs.indexOf(v);
    if (i < 0) i = inputs.push(v) - 1;
    return `x${i}`;
  });
  if (expr === "x0" && inputs.length === 1 && inputs[0]!.dtype === "f32" && inputs[0]!.shape.join() === shape.join()) {
    return alias(inputs[0]!);
  }
  return map(expr, inputs, "f32", shape);
}

interface BinaryRule {
  expr: string;
  /** Gradients w.r.t. a and b as templates over {g}, {a}, {b}. */
  da: string;
  db: string;
}

const BINARY = {
  add: { expr: "{a} + {b}", da: "{g}", db: "{g}" },
  sub: { expr: "{a} - {b}", da: "{g}", db: "-{g}" },
  mul: { expr: "{a} * {b}", da: "{g} * {b}", db: "{g} * {a}" },
  div: { expr: "{a} / {b}", da: "{g} / {b}", db: "-{g} * {a} / ({b} * {b})" },
} satisfies Record<string, BinaryRule>;

function binary(op: keyof typeof BINARY, a: Operand, b: Operand): Tensor {
  const rule: BinaryRule = BINARY[op];
  if (typeof a === "number" && typeof b === "number") {
    throw new A2VError("bad_operand", `${op}(): at least one operand must be a tensor`);
  }
  const tensors = [a, b].filter((v): v is Tensor => typeof v !== "number");
  const shape = broadcastShapes(...tensors.map((t) => t.shape));
  const inputs: Tensor[] = [];
  const expr = rule.expr.replace(/\{(a|b)\}/g, (_, k: string) => {
    const v = k === "a" ? a : b;
    if (typeof v === "number") return `(${f32lit(v)})`;
    return `x${inputs.push(v) - 1}`;
  });
  const out = map(expr, inputs, undefined, shape);
  // Save an operand only if a gradient that will actually be computed reads it.
  const gradA = typeof a !== "number" && a.needsGrad;
  const gradB = typeof b !== "number" && b.needsGrad;
  const needsA = (gradA && rule.da.includes("{a}")) || (gradB && rule.db.includes("{a}"));
  const needsB = (gradA && rule.da.includes("{b}")) || (gradB && rule.db.includes("{b}"));
  const saved = [needsA && typeof a !== "number" ? a : undefined, needsB && typeof b !== "number" ? b : undefined];
  return track(
    op,
    out,
    tensors,
    saved.filter((t): t is Tensor => t !== undefined),
    (g, s, needs) => {
      let k = 0;
      const sa = saved[0] ? s[k++] : a;
      const sb = saved[1] ? s[k++] : b;
      const named = { g, a: sa, b: sb };
      const grads: Array<Tensor | undefined> = [];
      if (typeof a !== "number")
        grads.push(needs[0] ? sumTo(evalTemplate(rule.da, named, g.shape), a.shape) : undefined);
      if (typeof b !== "number") {
        grads.push(needs[grads.length] ? sumTo(evalTemplate(rule.db, named, g.shape), b.shape) : undefined);
      }
      return grads;
    },
  );
}

export const add = (a: Operand, b: Operand): Tensor => binary("add", a, b);
export const sub = (a: Operand, b: Operand): Tensor => binary("sub", a, b);
export const mul = (a: Operand, b: Operand): Tensor => binary("mul", a, b);
export const div = (a: Operand, b: Operand): Tensor => binary("div", a, b);

/** x · s for a constant s. */
export function scale(x: Tensor, s: number): Tensor {
  return mul(x, s);
}

/** Unary ops: forward over {x}, gradient over {g}, {x} (input) and {y} (output). */
const UNARY = {
  neg: { expr: "-{x}", grad: "-{g}" },
  exp: { expr: "exp({x})", grad: "{g} * {y}" },
  log: { expr: "log({x})", grad: "{g} / {x}" },
  sqrt: { expr: "sqrt({x})", grad: "{g} * 0.5 / {y}" },
  rsqrt: { expr: "inverseSqrt({x})", grad: "-0.5 * {g} * {y} * {y} * {y}" },
  square: { expr: "{x} * {x}", grad: "2.0 * {g} * {x}" },
  tanh: { expr: "tanh_f({x})", grad: "{g} * (1.0 - {y} * {y})" },
  sigmoid: { expr: "sigmoid_f({x})", grad: "{g} * {y} * (1.0 - {y})" },
  silu: { expr: "{x} * sigmoid_f({x})", grad: "{g} * (sigmoid_f({x}) * (1.0 + {x} * (1.0 - sigmoid_f({x}))))" },
  gelu: { expr: "gelu_tanh_f({x})", grad: "{g} * gelu_tanh_grad_f({x})" },
  relu: { expr: "max({x}, 0.0)", grad: "select(0.0, {g}, {x} > 0.0)" },
  abs: { expr: "abs({x})", grad: "{g} * sign({x})" },
} satisfies Record<string, { expr: string; grad: string }>;

function unary(op: keyof typeof UNARY, x: Tensor): Tensor {
  const rule = UNARY[op];
  const out = map(rule.expr.replaceAll("{x}", "x0"), [x]);
  const usesIn = rule.grad.includes("{x}");
  const usesOut = rule.grad.includes("{y}");
  const saved = [...(usesIn ? [x] : []), ...(usesOut ? [out] : [])];
  return track(op, out, [x], saved, (g, s) => {
    let k = 0;
    const named = { g, x: usesIn ? s[k++] : undefined, y: usesOut ? s[k++] : undefined };
    return [evalTemplate(rule.grad, named, g.shape)];
  });
}

export const neg = (x: Tensor): Tensor => unary("neg", x);
export const exp = (x: Tensor): Tensor => unary("exp", x);
export const log = (x: Tensor): Tensor => unary("log", x);
export const sqrt = (x: Tensor): Tensor => unary("sqrt", x);
export const rsqrt = (x: Tensor): Tensor => unary("rsqrt", x);
export const square = (x: Tensor): Tensor => unary("square", x);
export const tanh = (x: Tensor): Tensor => unary("tanh", x);
export const sigmoid = (x: Tensor): Tensor => unary("sigmoid", x);
export const silu = (x: Tensor): Tensor => unary("silu", x);
/** GELU, tanh approximation (as LTX's feed-forward uses). */
export const gelu = (x: Tensor): Tensor => unary("gelu", x);
export const relu = (x: Tensor): Tensor => unary("relu", x);
export const abs = (x: Tensor): Tensor => unary("abs", x);

/** cond ≠ 0 ? a : b (broadcast); differentiable in a and b. */
export function where(cond: Tensor, a: Tensor, b: Tensor): Tensor {
  const out = map("select(x2, x1, x0 != 0.0)", [cond, a, b]);
  return track("where", out, [cond, a, b], [cond], (g, [c], needs) => [
    undefined,
    needs[1] ? sumTo(map("select(0.0, x0, x1 != 0.0)", [g, c!], "f32", g.shape), a.shape) : undefined,
    needs[2] ? sumTo(map("select(x0, 0.0, x1 != 0.0)", [g, c!], "f32", g.shape), b.shape) : undefined,
  ]);
}

/** x·(1 + scale) + shift (adaLN modulation), broadcast. */
export function modulate(x: Tensor, scaleT: Tensor, shift: Tensor): Tensor {
  const onePlus = add(scaleT, 1);
  const scaled = mul(x, onePlus);
  const out = add(scaled, shift);
  onePlus.dispose();
  scaled.dispose();
  return out;
}
