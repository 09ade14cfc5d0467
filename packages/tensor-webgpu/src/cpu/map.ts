import { A2VError } from "@a2v/errors";
import { broadcastView, type MapExtras } from "../codegen.js";
import { storeValue, type Tensor } from "../tensor.js";

/**
 * The CPU device's elementwise kernel: the same WGSL expressions the GPU kernels compile (the ops'
 * forward and gradient rules are data), evaluated in f64 as JavaScript. Only the expression subset the
 * ops use is accepted: arithmetic, comparisons, WGSL builtins and the MATH helpers, `e` and `U(i)`.
 */
type Scalar = (...args: number[]) => number;

const tanhF = (x: number): number => Math.tanh(Math.min(Math.max(x, -15), 15));
const sigmoidF = (x: number): number => 1 / (1 + Math.exp(-x));
const GELU_K = 0.7978845608028654;
const BUILTINS: Record<string, Scalar> = {
  f32: (x) => x,
  u32: (x) => Math.trunc(x) >>> 0,
  i32: (x) => Math.trunc(x) | 0,
  exp: Math.exp,
  log: Math.log,
  sqrt: Math.sqrt,
  inverseSqrt: (x) => 1 / Math.sqrt(x),
  abs: Math.abs,
  sign: Math.sign,
  cos: Math.cos,
  sin: Math.sin,
  floor: Math.floor,
  max: Math.max,
  min: Math.min,
  pow: Math.pow,
  clamp: (x, lo, hi) => Math.min(Math.max(x, lo!), hi!),
  select: (f, t, c) => (c ? t! : f!),
  fma: (a, b, c) => a! * b! + c!,
  tanh_f: tanhF,
  sigmoid_f: sigmoidF,
  gelu_tanh_f: (x) => 0.5 * x * (1 + tanhF(GELU_K * (x + 0.044715 * x * x * x))),
  gelu_tanh_grad_f: (x) => {
    const t = tanhF(GELU_K * (x + 0.044715 * x * x * x));
    return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * GELU_K * (1 + 3 * 0.044715 * x * x);
  },
};
const NAMES = Object.keys(BUILTINS);

type Compiled = (inputs: number[], e: number, U: (i: number) => number) => number;
const compiled = new Map<string, Compiled>();

function compile(expr: string): Compiled {
  let fn = compiled.get(expr);
  if (fn) return fn;
  const words = expr.match(/[A-Za-z_][A-Za-z0-9_]*/g) ?? [];
  for (const w of words) {
    if (!/^x\d+$/.test(w) && w !== "e" && w !== "U" && !(w in BUILTINS)) {
      throw new A2VError(
        "cpu_unsupported_expression",
        `The CPU device cannot evaluate '${w}' in the expression ${expr}`,
      );
    }
  }
  // WGSL integer literals (`3u`) are plain numbers here; every value is an f64.
  const js = expr.replace(/\b(\d+)u\b/g, "$1").replace(/\bx(\d+)\b/g, "x[$1]");
  const make = new Function(...NAMES, `return (x, e, U) => (${js});`) as (...fns: Scalar[]) => Compiled;
  fn = make(...NAMES.map((n) => BUILTINS[n]!));
  compiled.set(expr, fn);
  return fn;
}

/** Writes `expr` over the inputs broadcast to `out`'s shape into the CPU view `out`. */
export function cpuMapInto(expr: string, inputs: Tensor[], out: Tensor, extra: MapExtras): void {
  if (extra.prelude && !extra.cpu) {
    throw new A2VError("cpu_unsupported_expression", `The CPU device needs a JavaScript form of ${expr}`);
  }
  const f = extra.cpu ?? compile(expr);
  const words = extra.uniform;
  const U = (i: number): number => words?.[i] ?? 0;
  const views = inputs.map((t) => broadcastView(t, out.shape));
  const srcs = inputs.map((t) => t.host);
  const dst = out.host;
  const rank = out.shape.length;
  const idx = new Array<number>(rank).fill(0);
  const at = views.map((v) => v.offset);
  let o = out.offset;
  const x = new Array<number>(inputs.length);
  for (let e = 0; e < out.size; e++) {
    for (let i = 0; i < x.length; i++) x[i] = srcs[i]![at[i]!]!;
    dst[o] = storeValue(out.dtype, f(x, e, U));
    for (let d = rank - 1; d >= 0; d--) {
      const n = out.shape[d]!;
      o += out.strides[d]!;
      for (let i = 0; i < at.length; i++) at[i]! += views[i]!.strides[d]!;
      if (++idx[d]! < n) break;
      o -= out.strides[d]! * n;
      for (let i = 0; i < at.length; i++) at[i]! -= views[i]!.strides[d]! * n;
      idx[d] = 0;
    }
  }
}
