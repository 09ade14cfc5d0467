import { A2VError } from "@a2v/errors";

/** A dense row-major float32 tensor in host memory: what the reference implementations compute on and the GPU paths take and return. */
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

/** Same data, new shape (sizes must agree). */
export function reshape(x: HostTensor, shape: number[]): HostTensor {
  return hostTensor(shape, x.data);
}

export function expectRank(x: HostTensor, rank: number, what: string): void {
  if (x.shape.length !== rank) {
    throw new A2VError("tensor_rank_mismatch", `${what}: expected a rank-${rank} tensor, got shape [${x.shape}]`);
  }
}

export function add(a: HostTensor, b: HostTensor): HostTensor {
  if (a.data.length !== b.data.length) {
    throw new A2VError("tensor_shape_mismatch", `add: shapes [${a.shape}] and [${b.shape}] differ`);
  }
  const out = new Float32Array(a.data.length);
  for (let i = 0; i < out.length; i++) out[i] = a.data[i]! + b.data[i]!;
  return hostTensor([...a.shape], out);
}

export function silu(x: HostTensor): HostTensor {
  const out = new Float32Array(x.data.length);
  for (let i = 0; i < out.length; i++) {
    const v = x.data[i]!;
    out[i] = v / (1 + Math.exp(-v));
  }
  return hostTensor([...x.shape], out);
}

/**
 * Pixel norm over the channel axis (axis 1) of a [B, C, ...] tensor: x / sqrt(mean_c(x²) + eps).
 */
export function pixelNorm(x: HostTensor, eps: number): HostTensor {
  const [b, c] = x.shape as [number, number];
  const inner = numel(x.shape.slice(2));
  const out = new Float32Array(x.data.length);
  for (let n = 0; n < b; n++) {
    const base = n * c * inner;
    for (let i = 0; i < inner; i++) {
      let s = 0;
      for (let k = 0; k < c; k++) {
        const v = x.data[base + k * inner + i]!;
        s += v * v;
      }
      const inv = 1 / Math.sqrt(s / c + eps);
      for (let k = 0; k < c; k++) out[base + k * inner + i] = x.data[base + k * inner + i]! * inv;
    }
  }
  return hostTensor([...x.shape], out);
}

/** Channels [from, to) of a [B, C, ...] tensor. */
export function sliceChannels(x: HostTensor, from: number, to: number): HostTensor {
  const [b, c] = x.shape as [number, number];
  const inner = numel(x.shape.slice(2));
  const out = new Float32Array(b * (to - from) * inner);
  for (let n = 0; n < b; n++) {
    out.set(x.data.subarray((n * c + from) * inner, (n * c + to) * inner), n * (to - from) * inner);
  }
  return hostTensor([b, to - from, ...x.shape.slice(2)], out);
}

/** Per-channel statistics on axis 1: (x - mean[c]) / std[c] (normalize) or x * std[c] + mean[c] (inverse). */
export function perChannelStatistics(
  x: HostTensor,
  mean: Float32Array,
  std: Float32Array,
  inverse: boolean,
): HostTensor {
  const [b, c] = x.shape as [number, number];
  const inner = numel(x.shape.slice(2));
  const out = new Float32Array(x.data.length);
  for (let n = 0; n < b; n++) {
    for (let k = 0; k < c; k++) {
      const base = (n * c + k) * inner;
      const m = mean[k]!;
      const s = std[k]!;
      for (let i = 0; i < inner; i++) {
        const v = x.data[base + i]!;
        out[base + i] = inverse ? v * s + m : (v - m) / s;
      }
    }
  }
  return hostTensor([...x.shape], out);
}
