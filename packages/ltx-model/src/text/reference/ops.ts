import { type CpuTensor, cpuTensor } from "../../vae/reference/tensor.js";

/** y = x Wᵀ + b over the last axis; W is [out, in]. Float64 accumulation. */
export function linear(x: CpuTensor, weight: CpuTensor, bias?: CpuTensor): CpuTensor {
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
  return cpuTensor([...x.shape.slice(0, -1), out], y);
}

/** RMS norm over the last axis: x · rsqrt(mean(x²) + eps) (· weight when given). */
export function rmsNorm(x: CpuTensor, eps: number, weight?: CpuTensor): CpuTensor {
  const d = x.shape.at(-1)!;
  const out = new Float32Array(x.data.length);
  for (let r = 0; r < x.data.length / d; r++) {
    let s = 0;
    for (let i = 0; i < d; i++) s += x.data[r * d + i]! ** 2;
    const inv = 1 / Math.sqrt(s / d + eps);
    for (let i = 0; i < d; i++) out[r * d + i] = x.data[r * d + i]! * inv * (weight ? weight.data[i]! : 1);
  }
  return cpuTensor([...x.shape], out);
}

/** GELU with the tanh approximation (`gelu_approx`). */
export function geluTanh(x: CpuTensor): CpuTensor {
  const out = new Float32Array(x.data.length);
  const c = Math.sqrt(2 / Math.PI);
  for (let i = 0; i < out.length; i++) {
    const v = x.data[i]!;
    out[i] = 0.5 * v * (1 + Math.tanh(c * (v + 0.044715 * v * v * v)));
  }
  return cpuTensor([...x.shape], out);
}
