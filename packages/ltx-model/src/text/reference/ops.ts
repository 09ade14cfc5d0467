import { type HostTensor, hostTensor } from "../../vae/reference/tensor.js";

/** y = x Wᵀ + b over the last axis; W is [out, in]. Float64 accumulation. */
export function linear(x: HostTensor, weight: HostTensor, bias?: HostTensor): HostTensor {
  const [out, inp] = weight.shape as [number, number];
  const rows = x.data.length / inp;
  const y = new Float32Array(rows * out);
  for (let r = 0; r < rows; r++) {
    const xo = r * inp;
    for (let o = 0; o < out; o++) {
      let s = bias ? bias.data[o]! : 0;
      const wo = o * inp;
      for (let i = 0; i < inp; i++) s += x.data[xo + i]! * weight.data[wo + i]!;
      y[r * out + o] = s;
    }
  }
  return hostTensor([...x.shape.slice(0, -1), out], y);
}

/** RMS norm over the last axis: x · rsqrt(mean(x²) + eps) (· weight when given). */
export function rmsNorm(x: HostTensor, eps: number, weight?: HostTensor): HostTensor {
  const d = x.shape.at(-1)!;
  const out = new Float32Array(x.data.length);
  for (let r = 0; r < x.data.length / d; r++) {
    let s = 0;
    for (let i = 0; i < d; i++) s += x.data[r * d + i]! ** 2;
    const inv = 1 / Math.sqrt(s / d + eps);
    for (let i = 0; i < d; i++) out[r * d + i] = x.data[r * d + i]! * inv * (weight ? weight.data[i]! : 1);
  }
  return hostTensor([...x.shape], out);
}

/** GELU with the tanh approximation (`gelu_approx`). */
export function geluTanh(x: HostTensor): HostTensor {
  const out = new Float32Array(x.data.length);
  const c = Math.sqrt(2 / Math.PI);
  for (let i = 0; i < out.length; i++) {
    const v = x.data[i]!;
    out[i] = 0.5 * v * (1 + Math.tanh(c * (v + 0.044715 * v * v * v)));
  }
  return hostTensor([...x.shape], out);
}
