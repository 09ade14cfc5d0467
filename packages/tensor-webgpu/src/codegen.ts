import { A2VError } from "@a2v/errors";
import type { DType } from "./dtype.js";

/** Threads per workgroup for the elementwise and copy kernels. */
export const WG = 256;
/** Maximum workgroups per grid dimension (WebGPU default limit). */
const MAX_GROUPS = 65535;

/** A strided view of a buffer as a kernel sees it (shapes and strides are baked into the WGSL). */
export interface View {
  dtype: DType;
  shape: readonly number[];
  strides: readonly number[];
  offset: number;
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

/** What an elementwise expression may use besides its inputs (see `mapInto`). */
export interface MapExtras {
  /** u32 words the expression reads as `U(i)` (bound as a uniform, so changing them never recompiles). */
  uniform?: Uint32Array;
  /** Extra WGSL functions the expression calls. */
  prelude?: string;
  /** The expression in JavaScript, for the CPU device when it calls `prelude` functions. */
  cpu?: (x: number[], e: number, U: (i: number) => number) => number;
}

/** WGSL element type of a storage array for a dtype (bf16 is packed two per u32, i8 and f8e4m3 four). */
export function storageType(dtype: DType): string {
  return dtype === "bf16" || dtype === "i8" || dtype === "f8e4m3" ? "u32" : dtype;
}

/** Header enabling f16 when any binding uses it. */
export function header(dtypes: readonly DType[]): string {
  return dtypes.includes("f16") ? "enable f16;\n" : "";
}

export function binding(index: number, name: string, dtype: DType, write: boolean): string {
  const access = write ? "read_write" : "read";
  return `@group(0) @binding(${index}) var<storage, ${access}> ${name}: array<${storageType(dtype)}>;`;
}

/** `fn ld_<name>(i: u32) -> f32` reading element i (element index, not word index) of a binding. */
export function loader(name: string, dtype: DType): string {
  if (dtype === "bf16") {
    return `fn ld_${name}(i: u32) -> f32 { let w = ${name}[i >> 1u]; return bitcast<f32>(select(w << 16u, w & 0xffff0000u, (i & 1u) == 1u)); }`;
  }
  if (dtype === "f32") return `fn ld_${name}(i: u32) -> f32 { return ${name}[i]; }`;
  // Byte i & 3 of word i >> 2: int8 sign-extended; e4m3fn normals rebiased into f32 bits (exponent + 120),
  // subnormals (magnitude code < 8) as code·2^-9. The NaN codes 0x7f/0xff are not special-cased (read as ±480).
  if (dtype === "i8") {
    return `fn ld_${name}(i: u32) -> f32 { return f32(extractBits(bitcast<i32>(${name}[i >> 2u]), (i & 3u) * 8u, 8u)); }`;
  }
  if (dtype === "f8e4m3") {
    return `fn ld_${name}(i: u32) -> f32 { let c = extractBits(${name}[i >> 2u], (i & 3u) * 8u, 8u); let m = c & 0x7fu;
  let v = select(f32(m) * 0.001953125, bitcast<f32>((m << 20u) + 0x3c000000u), m >= 8u); return select(v, -v, c >= 0x80u); }`;
  }
  return `fn ld_${name}(i: u32) -> f32 { return f32(${name}[i]); }`;
}

/** WGSL expression converting an f32 value to the storage type (not for bf16; see `packBf16`). */
export function storeCast(dtype: DType, value: string): string {
  return dtype === "f32" ? value : `${dtype}(${value})`;
}

/** bf16 packing with round-to-nearest-even, NaN kept quiet. */
export const PACK_BF16 = `fn bf16_bits(x: f32) -> u32 {
  let u = bitcast<u32>(x);
  if ((u & 0x7f800000u) == 0x7f800000u && (u & 0x7fffffu) != 0u) { return (u >> 16u) | 0x40u; }
  return ((u + 0x7fffu + ((u >> 16u) & 1u)) >> 16u) & 0xffffu;
}`;

/**
 * An f32 literal that WGSL parses exactly. WGSL constant expressions cannot hold non-finite values,
 * so ±Infinity becomes ±f32 max (enough for masks and max-reduction seeds).
 */
export function f32lit(v: number): string {
  if (Number.isNaN(v)) throw new A2VError("wgsl_nan_constant", "NaN cannot be a WGSL constant");
  if (v === Number.POSITIVE_INFINITY) return "f32(3.4028234663852886e38)";
  if (v === Number.NEGATIVE_INFINITY) return "f32(-3.4028234663852886e38)";
  const f = Math.fround(v);
  return `f32(${f.toExponential()})`;
}

export function u32lit(v: number): string {
  return `${v >>> 0}u`;
}

export function size(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function contiguousStrides(shape: readonly number[]): number[] {
  const strides = new Array<number>(shape.length);
  let s = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    strides[i] = s;
    s *= shape[i]!;
  }
  return strides;
}

/** True when the view is row-major contiguous (size-1 dims may have any stride). */
export function isContiguous(v: View): boolean {
  let s = 1;
  for (let i = v.shape.length - 1; i >= 0; i--) {
    if (v.shape[i] !== 1 && v.strides[i] !== s) return false;
    s *= v.shape[i]!;
  }
  return true;
}

/** Statements decomposing `idx` (a u32 expression) into coordinates `<p>0..<p>{n-1}` of `shape`. */
export function coords(shape: readonly number[], idx: string, p: string): string {
  if (shape.length === 0) return "";
  const lines = [`var ${p}r = ${idx};`];
  for (let d = shape.length - 1; d >= 0; d--) {
    if (d === 0) lines.push(`let ${p}${d} = ${p}r;`);
    else lines.push(`let ${p}${d} = ${p}r % ${u32lit(shape[d]!)}; ${p}r = ${p}r / ${u32lit(shape[d]!)};`);
  }
  return lines.join("\n  ");
}

/** Element offset expression of a view at coordinates `<p>d` (dims of size 1 or stride 0 skipped). */
export function offsetExpr(view: View, p: string): string {
  const terms = [u32lit(view.offset)];
  view.shape.forEach((n, d) => {
    const s = view.strides[d]!;
    if (n !== 1 && s !== 0) terms.push(s === 1 ? `${p}${d}` : `${p}${d} * ${u32lit(s)}`);
  });
  return terms.join(" + ");
}

/** Workgroup grid for `groups` workgroups, folded into 2D above the per-dimension limit. */
export function grid(groups: number): [number, number] {
  if (groups <= MAX_GROUPS) return [groups, 1];
  const y = Math.ceil(groups / MAX_GROUPS);
  return [Math.ceil(groups / y), y];
}

/** WGSL expression for the linear workgroup index of a grid made by `grid(groups)`. */
export function groupIndex(groups: number): string {
  const [x] = grid(groups);
  return `(wid.y * ${u32lit(x)} + wid.x)`;
}

/** Shared scalar helpers (unused ones are dropped by the compiler). */
export const MATH = `fn sigmoid_f(x: f32) -> f32 { return 1.0 / (1.0 + exp(-x)); }
fn gelu_tanh_f(x: f32) -> f32 {
  let u = 0.7978845608028654 * (x + 0.044715 * x * x * x);
  return 0.5 * x * (1.0 + tanh_f(u));
}
fn gelu_tanh_grad_f(x: f32) -> f32 {
  let u = 0.7978845608028654 * (x + 0.044715 * x * x * x);
  let t = tanh_f(u);
  return 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * 0.7978845608028654 * (1.0 + 3.0 * 0.044715 * x * x);
}
fn tanh_f(x: f32) -> f32 {
  // tanh() of large |x| is NaN on some drivers; clamp first.
  let c = clamp(x, -15.0, 15.0);
  let e = exp(2.0 * c);
  return (e - 1.0) / (e + 1.0);
}`;
