import type { DType } from "../dtype.js";
import { cpuTensor, gather, storeValue, type Tensor } from "../tensor.js";
import type { Nd } from "./reference.js";

/**
 * Bridges between CPU-device tensors and the f64 reference arrays (`reference.ts`) the CPU device's
 * kernels are written in: a CPU kernel reads its inputs as `Nd`, computes, and wraps the result.
 */
export function asNd(t: Tensor): Nd {
  return { data: gather(t), shape: [...t.shape] };
}

/** A CPU tensor of `x`'s values, rounded to `dtype`. */
export function fromNd(x: Nd, dtype: DType = "f32"): Tensor {
  if (dtype !== "f32") for (let i = 0; i < x.data.length; i++) x.data[i] = storeValue(dtype, x.data[i]!);
  return cpuTensor(x.data, x.shape, dtype);
}

/** Copies the values of `src` (any view, same shape) into the CPU view `dst`. */
export function copyInto(src: Nd, dst: Tensor): void {
  const out = dst.host;
  const rank = dst.rank;
  const idx = new Array<number>(rank).fill(0);
  let at = dst.offset;
  for (let e = 0; e < src.data.length; e++) {
    out[at] = storeValue(dst.dtype, src.data[e]!);
    for (let d = rank - 1; d >= 0; d--) {
      at += dst.strides[d]!;
      if (++idx[d]! < dst.shape[d]!) break;
      at -= dst.strides[d]! * dst.shape[d]!;
      idx[d] = 0;
    }
  }
}
