import { A2VError } from "@a2v/errors";
import { track } from "../autograd.js";
import { f32lit } from "../codegen.js";
import type { Tensor } from "../tensor.js";
import { alias, broadcastShapes, map } from "./map.js";
import { sumTo } from "./reduce.js";

// The named elementwise ops (add, mul, exp, silu, where, ...) and their gradients, on the kernel in map.ts.
export { broadcastView, type MapExtras } from "../codegen.js";
export { alias, broadcastShapes, cast, contiguous, fill, map, mapInto, ones, zeros } from "./map.js";

type Operand = Tensor | number;

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
