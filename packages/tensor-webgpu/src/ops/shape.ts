import { A2VError } from "@a2v/errors";
import { track } from "../autograd.js";
import { contiguousStrides, size } from "../codegen.js";
import { isQuantized } from "../dtype.js";
import { deviceOf, empty, fmtShape, onDevice, type Tensor } from "../tensor.js";
import { alias, broadcastShapes, contiguous, mapInto, zeros } from "./elementwise.js";
import { sumTo } from "./reduce.js";

function axis(a: number, rank: number): number {
  const r = a < 0 ? a + rank : a;
  if (r < 0 || r >= rank) throw new A2VError("bad_axis", `Axis ${a} is out of range for rank ${rank}`, { status: 422 });
  return r;
}

/** Same elements, new shape (one -1 is inferred). A view when the layout allows, else a copy. */
export function reshape(x: Tensor, shape: readonly number[]): Tensor {
  const known = shape.filter((d) => d !== -1).reduce((a, b) => a * b, 1);
  const resolved = shape.map((d) => (d === -1 ? x.size / known : d));
  if (size(resolved) !== x.size || resolved.some((d) => !Number.isInteger(d))) {
    throw new A2VError("bad_shape", `Cannot reshape ${fmtShape(x.shape)} to ${fmtShape(shape)}`, { status: 422 });
  }
  let out: Tensor;
  if (x.isContiguous) out = x.view(resolved, contiguousStrides(resolved), x.offset);
  else {
    const c = contiguous(x);
    out = c.view(resolved, contiguousStrides(resolved), 0);
    c.dispose();
  }
  return track("reshape", out, [x], [], (g) => [reshape(g, x.shape)]);
}

/** Flattens dims [start, end] into one. */
export function flatten(x: Tensor, start = 0, end = -1): Tensor {
  const s = axis(start, x.rank);
  const e = axis(end, x.rank);
  const shape = [...x.shape.slice(0, s), size(x.shape.slice(s, e + 1)), ...x.shape.slice(e + 1)];
  return reshape(x, shape);
}

export function unsqueeze(x: Tensor, at: number): Tensor {
  const a = at < 0 ? at + x.rank + 1 : at;
  return reshape(x, [...x.shape.slice(0, a), 1, ...x.shape.slice(a)]);
}

export function squeeze(x: Tensor, at: number): Tensor {
  const a = axis(at, x.rank);
  if (x.shape[a] !== 1) throw new A2VError("bad_shape", `squeeze: dim ${at} of ${fmtShape(x.shape)} is not 1`);
  return reshape(x, [...x.shape.slice(0, a), ...x.shape.slice(a + 1)]);
}

/** Reorders dims (a view). */
export function permute(x: Tensor, dims: readonly number[]): Tensor {
  const d = dims.map((a) => axis(a, x.rank));
  if (d.length !== x.rank || new Set(d).size !== x.rank) {
    throw new A2VError("bad_axis", `permute: ${fmtShape(dims)} is not a permutation of rank ${x.rank}`, {
      status: 422,
    });
  }
  const out = x.view(
    d.map((a) => x.shape[a]!),
    d.map((a) => x.strides[a]!),
    x.offset,
  );
  const inverse = new Array<number>(d.length);
  d.forEach((a, i) => {
    inverse[a] = i;
  });
  return track("permute", out, [x], [], (g) => [permute(g, inverse)]);
}

/** Swaps two dims (default the last two); a view. */
export function transpose(x: Tensor, a = -2, b = -1): Tensor {
  const dims = [...x.shape.keys()];
  const i = axis(a, x.rank);
  const j = axis(b, x.rank);
  dims[i] = j;
  dims[j] = i;
  return permute(x, dims);
}

/** Elements start..end-1 (step `step`) along `dim`; a view. */
export function slice(
  x: Tensor,
  dim: number,
  start: number,
  end: number = x.shape[axis(dim, x.rank)]!,
  step = 1,
): Tensor {
  const d = axis(dim, x.rank);
  const n = x.shape[d]!;
  const s = Math.max(0, Math.min(n, start < 0 ? start + n : start));
  const e = Math.max(s, Math.min(n, end < 0 ? end + n : end));
  const len = Math.ceil((e - s) / step);
  const shape = x.shape.map((v, i) => (i === d ? len : v));
  const strides = x.strides.map((v, i) => (i === d ? v * step : v));
  const out = x.view(shape, strides, x.offset + s * x.strides[d]!);
  return track("slice", out, [x], [], (g) => {
    const gx = onDevice(g.device, () => zeros(x.shape));
    const region = gx.view(
      shape,
      gx.strides.map((v, i) => (i === d ? v * step : v)),
      s * gx.strides[d]!,
    );
    mapInto("x0", [g], region);
    region.dispose();
    return [gx];
  });
}

/** Broadcast view to `shape` (stride 0 along expanded dims). */
export function expand(x: Tensor, shape: readonly number[]): Tensor {
  const target = broadcastShapes(x.shape, shape);
  if (target.join() !== shape.join()) {
    throw new A2VError("bad_shape", `expand: ${fmtShape(x.shape)} does not broadcast to ${fmtShape(shape)}`);
  }
  const lead = shape.length - x.rank;
  const strides = shape.map((n, d) => (d < lead || (x.shape[d - lead] === 1 && n !== 1) ? 0 : x.strides[d - lead]!));
  const out = x.view(shape, strides, x.offset);
  return track("expand", out, [x], [], (g) => [sumTo(alias(g), x.shape)]);
}

/** Joins tensors along `dim` (a copy). */
export function concat(xs: readonly Tensor[], dim = 0): Tensor {
  if (xs.length === 0) throw new A2VError("bad_operand", "concat() needs at least one tensor");
  const first = xs[0]!;
  const d = axis(dim, first.rank);
  for (const x of xs) {
    if (x.rank !== first.rank || x.shape.some((n, i) => i !== d && n !== first.shape[i])) {
      throw new A2VError("shape_mismatch", `concat: ${fmtShape(x.shape)} does not match ${fmtShape(first.shape)}`);
    }
  }
  const shape = first.shape.map((n, i) => (i === d ? xs.reduce((a, x) => a + x.shape[d]!, 0) : n));
  const dtype =
    xs.every((x) => x.dtype === first.dtype) && first.dtype !== "bf16" && !isQuantized(first.dtype)
      ? first.dtype
      : "f32";
  const out = empty(shape, dtype, deviceOf(xs));
  const starts: number[] = [];
  let at = 0;
  for (const x of xs) {
    starts.push(at);
    const region = out.view(x.shape, out.strides, at * out.strides[d]!);
    mapInto("x0", [x], region);
    region.dispose();
    at += x.shape[d]!;
  }
  return track("concat", out, [...xs], [], (g, _s, needs) =>
    xs.map((x, i) => (needs[i] ? g.view(x.shape, g.strides, g.offset + starts[i]! * g.strides[d]!) : undefined)),
  );
}

/** Splits along `dim` into pieces of the given sizes (views). */
export function split(x: Tensor, sizes: readonly number[], dim = 0): Tensor[] {
  let at = 0;
  return sizes.map((n) => {
    const part = slice(x, dim, at, at + n);
    at += n;
    return part;
  });
}
