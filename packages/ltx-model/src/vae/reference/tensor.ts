import { A2VError } from "@a2v/errors";

/**
 * Row-major float32 values with their shape in host memory: what weights and golden tensors are read
 * into, and what host-side pre/post-processing (frames, audio features and tokens, caption features)
 * takes and returns. Model components compute on `@a2v/tensor-webgpu` tensors (GPU or CPU device).
 */
export interface HostTensor {
  shape: number[];
  data: Float32Array;
}

export function numel(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

export function hostTensor(shape: number[], data?: Float32Array): HostTensor {
  const n = numel(shape);
  if (data && data.length !== n) {
    throw new A2VError("tensor_shape_mismatch", `tensor data has ${data.length} elements, shape [${shape}] needs ${n}`);
  }
  return { shape, data: data ?? new Float32Array(n) };
}
