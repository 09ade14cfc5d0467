import { A2VError } from "@a2v/errors";
import { f32ToF8e4m3, f32ToI8, isQuantized } from "../dtype.js";
import { type Device, fmtShape, getDefaultDevice, type Tensor, tensor } from "../tensor.js";
import { matmul } from "./matmul.js";
import { transpose } from "./shape.js";

// Weights kept quantized on the device: 1-byte codes (i8 or f8e4m3, packed four per word, decoded by every kernel's
// loader) times a scale, per output channel (int8) or per tensor (fp8). The GEMMs read the codes directly, so a
// quantized [out, in] weight occupies out·in bytes.

/** Weight codes and their scale: values ≈ codes·scale (scale per row as an f32 [rows] tensor, or one number). */
export interface Quantized {
  codes: Tensor;
  scale: Tensor | number;
}

/** Largest int8 code used (symmetric: -127..127) and largest finite e4m3fn value. */
const I8_MAX = 127;
const F8_MAX = 448;

/**
 * Quantizes a [rows, cols] weight. "int8": one scale per row (output channel), scale[r] = absmax(row r)/127 (1 for
 * an all-zero row) as an f32 [rows] tensor, codes = round(v/scale[r]) as "i8". "fp8": one scale for the tensor,
 * absmax/448 (1 if zero) as a number, codes = e4m3(v/scale) as "f8e4m3". Scales are rounded to f32 first, so the
 * codes are the nearest to v under the scale the kernels apply.
 */
export function quantize(
  values: Float32Array | Float64Array,
  shape: readonly [number, number],
  mode: "int8" | "fp8",
  device: Device = getDefaultDevice(),
): Quantized {
  const [rows, cols] = shape;
  if (!Number.isInteger(rows) || !Number.isInteger(cols) || rows < 0 || cols < 0 || rows * cols !== values.length) {
    throw new A2VError("bad_shape", `quantize(): ${values.length} values do not fill ${fmtShape(shape)}`, {
      status: 422,
    });
  }
  if (mode === "int8") {
    const codes = new Int8Array(values.length);
    const scales = new Float32Array(rows);
    for (let r = 0; r < rows; r++) {
      let absmax = 0;
      for (let c = 0; c < cols; c++) absmax = Math.max(absmax, Math.abs(values[r * cols + c]!));
      const s = absmax > 0 ? Math.fround(absmax / I8_MAX) : 1;
      scales[r] = s;
      for (let c = 0; c < cols; c++) codes[r * cols + c] = f32ToI8(values[r * cols + c]! / s);
    }
    return { codes: tensor(codes, [rows, cols], "i8", device), scale: tensor(scales, [rows], "f32", device) };
  }
  if (mode === "fp8") {
    let absmax = 0;
    for (let i = 0; i < values.length; i++) absmax = Math.max(absmax, Math.abs(values[i]!));
    const s = absmax > 0 ? Math.fround(absmax / F8_MAX) : 1;
    const codes = new Uint8Array(values.length);
    for (let i = 0; i < values.length; i++) codes[i] = f32ToF8e4m3(values[i]! / s);
    return { codes: tensor(codes, [rows, cols], "f8e4m3", device), scale: s };
  }
  throw new A2VError("bad_mode", `quantize(): unknown mode "${mode}" (expected int8 or fp8)`, { status: 422 });
}

/** The values codes·scale on the host (row-major; a scale tensor applies per row). For tests and parity checks. */
export async function dequantize(codes: Tensor, scale: Tensor | number): Promise<Float32Array> {
  const values = Float32Array.from(await codes.toArray());
  if (typeof scale === "number") {
    for (let i = 0; i < values.length; i++) values[i] = values[i]! * scale;
    return values;
  }
  const rows = codes.shape[0] ?? 1;
  const s = await scale.toArray();
  if (s.length !== rows) {
    throw new A2VError(
      "shape_mismatch",
      `dequantize(): scale ${fmtShape(scale.shape)} for codes ${fmtShape(codes.shape)}`,
    );
  }
  const cols = rows === 0 ? 0 : values.length / rows;
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) values[r * cols + c] = values[r * cols + c]! * s[r]!;
  return values;
}

/**
 * A linear layer on quantized weights: y = (x·codesᵀ) ⊙ scale + bias with codes [out, in] ("i8" or "f8e4m3"),
 * scale an f32 [out] tensor (per output channel, the GEMM's column scale) or a number (per tensor, its alpha), bias [out]
 * optional; x [..., in] with any leading batch axes. The codes are read packed (never expanded). Differentiable in x
 * and bias (codes and scale are frozen): dx = (g ⊙ scale)·codes.
 */
export function quantizedLinear(x: Tensor, codes: Tensor, scale: Tensor | number, bias?: Tensor): Tensor {
  if (!isQuantized(codes.dtype) || codes.rank !== 2) {
    throw new A2VError("bad_dtype", `quantizedLinear: codes must be an i8 or f8e4m3 [out, in] tensor, got ${codes}`, {
      status: 422,
    });
  }
  // The scale in the GEMM's epilogue: per tensor as alpha, per output channel as the column scale (matmul checks
  // that it is [out] and frozen).
  const wt = transpose(codes);
  const y = matmul(x, wt, {
    ...(typeof scale === "number" ? { alpha: scale } : { columnScale: scale }),
    ...(bias ? { bias } : {}),
  });
  wt.dispose();
  return y;
}
