import { A2VError } from "@a2v/errors";

/**
 * Row-major values with their shape in host memory: what weights and golden tensors are read into, what
 * host-side pre/post-processing takes and returns, and (as `HostTensor<Float64Array>`) what the CPU device's
 * reference kernels compute on. The one host-tensor type of the repository.
 */
export interface HostTensor<A extends Float32Array | Float64Array = Float32Array> {
  shape: number[];
  data: A;
}

/** A float32 host tensor of `shape` over `data` (zeros when omitted); the lengths must agree. */
export function hostTensor(shape: number[], data?: Float32Array): HostTensor {
  const n = shape.reduce((a, b) => a * b, 1);
  if (data && data.length !== n) {
    throw new A2VError("tensor_shape_mismatch", `tensor data has ${data.length} elements, shape [${shape}] needs ${n}`);
  }
  return { shape, data: data ?? new Float32Array(n) };
}
