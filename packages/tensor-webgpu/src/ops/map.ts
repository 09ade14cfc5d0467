import { A2VError } from "@a2v/errors";
import { track } from "../autograd.js";
import {
  binding,
  broadcastView,
  coords,
  f32lit,
  grid,
  groupIndex,
  header,
  loader,
  MATH,
  type MapExtras,
  offsetExpr,
  PACK_BF16,
  storeCast,
  u32lit,
  WG,
} from "../codegen.js";
import { cpuMapInto } from "../cpu/map.js";
import { type DType, isFloat, isQuantized } from "../dtype.js";
import { type Device, deviceOf, empty, fmtShape, onDevice, type Tensor } from "../tensor.js";
import { bindingOf, withWindows } from "../window.js";

// The elementwise kernel every op builds on: a WGSL expression over broadcast inputs (`map`, `mapInto`),
// on the GPU or (cpu/map.ts) the CPU device, and the tensors made from it alone (fill, contiguous, cast).
// The named elementwise ops and their gradients are elementwise.ts.

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

/** Result dtype of an elementwise op on these inputs: f16 only when every float input is f16. */
function resultDType(inputs: Tensor[]): DType {
  const floats = inputs.filter((t) => isFloat(t.dtype));
  return floats.length > 0 && floats.every((t) => t.dtype === "f16") ? "f16" : "f32";
}

/**
 * Writes `expr` (WGSL over f32 values x0..x{n-1}, the inputs broadcast to the output shape) into the
 * view `out`. The expression may also use `e` (the row-major output index) and `U(i)` (word i of
 * `uniform`, a u32; values that change every call go there so the pipeline is reused). bf16 outputs
 * must be contiguous: each thread then writes one packed word.
 */
export function mapInto(expr: string, inputs: Tensor[], out: Tensor, extra: MapExtras = {}): Tensor {
  for (const t of [...inputs, out]) t.assertAlive();
  if (isQuantized(out.dtype)) {
    throw new A2VError(
      "quantized_output",
      `${out}: kernels read ${out.dtype} codes but do not write them; make codes with quantize() or tensor()`,
      { status: 422 },
    );
  }
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

/** A contiguous copy (optionally converted to `dtype`; i8/f8e4m3 codes decode to f32); differentiable. */
export function contiguous(x: Tensor, dtype: DType = isQuantized(x.dtype) ? "f32" : x.dtype): Tensor {
  const out = map("x0", [x], dtype, x.shape);
  return track("contiguous", out, [x], [], (g) => [alias(g)]);
}

/** Converts to another dtype (bf16 and f16 round to nearest even; ints truncate; i8/f8e4m3 are refused). */
export function cast(x: Tensor, dtype: DType): Tensor {
  return contiguous(x, dtype);
}

/** A new handle on the same view (so a gradient can be passed on while the caller disposes its own). */
export function alias(t: Tensor): Tensor {
  return t.view(t.shape, t.strides, t.offset);
}
