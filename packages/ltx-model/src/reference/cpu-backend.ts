import { A2VError } from "@a2v/errors";
import type { Backend } from "../backend.js";
import type { WeightSource } from "../weights/checkpoint.js";

/**
 * A float64 CPU implementation of `Backend` with reverse-mode autograd: the reference the GPU
 * runtime is checked against and the tool that pins golden parity (forward, loss, LoRA gradients).
 * Deliberately plain loops: clarity over speed, it only runs tiny configurations.
 */
export class CpuTensor {
  grad: Float64Array | null = null;
  constructor(
    readonly data: Float64Array,
    readonly rows: number,
    readonly cols: number,
    readonly requiresGrad: boolean,
    /** Propagates `grad` of this tensor into its inputs' grads. */
    readonly backwardFn: (() => void) | null = null,
  ) {
    if (data.length !== rows * cols)
      throw new A2VError("tensor_shape_mismatch", `CpuTensor: ${data.length} values for [${rows}, ${cols}]`);
  }
}

function accumulate(t: CpuTensor, index: number, value: number): void {
  t.grad ??= new Float64Array(t.data.length);
  t.grad[index]! += value;
}

function gradOf(t: CpuTensor): Float64Array {
  t.grad ??= new Float64Array(t.data.length);
  return t.grad;
}

export class CpuBackend implements Backend<CpuTensor> {
  private readonly weights = new Map<string, CpuTensor>();
  private readonly parameters = new Map<string, CpuTensor>();
  /** Every tensor with a backward function, in creation (topological) order. */
  private tape: CpuTensor[] = [];

  /** Loads the given keys from a weight source as frozen float64 tensors. */
  async loadWeights(source: WeightSource, keys: Iterable<string>): Promise<void> {
    for (const key of keys) {
      const shape = source.shape(key);
      if (!shape) throw new A2VError("weight_missing", `weight ${key} is missing`, { status: 422 });
      const [rows, cols] = shape.length === 2 ? shape : [1, shape[0] ?? 1];
      this.weights.set(key, new CpuTensor(Float64Array.from(await source.readFloat32(key)), rows!, cols!, false));
    }
  }

  /** Registers a trainable parameter `[rows, cols]`. */
  addParameter(key: string, data: ArrayLike<number>, rows: number, cols: number): void {
    this.parameters.set(key, new CpuTensor(Float64Array.from(data), rows, cols, true));
  }

  parameterGrad(key: string): Float64Array {
    const p = this.parameters.get(key);
    if (!p) throw new A2VError("parameter_missing", `no parameter ${key}`);
    return p.grad ?? new Float64Array(p.data.length);
  }

  /** Runs reverse-mode differentiation from a `[1, 1]` loss, filling parameter grads. */
  backward(loss: CpuTensor): void {
    if (loss.data.length !== 1) throw new A2VError("loss_not_scalar", "backward needs a scalar loss");
    loss.grad = Float64Array.of(1);
    for (let i = this.tape.length - 1; i >= 0; i--) {
      const t = this.tape[i]!;
      if (t.grad) t.backwardFn!();
    }
    this.tape = [];
  }

  /** Drops the recorded graph and parameter gradients. */
  reset(): void {
    this.tape = [];
    for (const p of this.parameters.values()) p.grad = null;
  }

  private make(
    data: Float64Array,
    rows: number,
    cols: number,
    inputs: CpuTensor[],
    backward: (out: CpuTensor) => void,
  ): CpuTensor {
    const requiresGrad = inputs.some((t) => t.requiresGrad);
    if (!requiresGrad) return new CpuTensor(data, rows, cols, false);
    const out: CpuTensor = new CpuTensor(data, rows, cols, true, () => backward(out));
    this.tape.push(out);
    return out;
  }

  constant(data: Float32Array | Float64Array, rows: number, cols: number): CpuTensor {
    return new CpuTensor(Float64Array.from(data), rows, cols, false);
  }

  weight(key: string): CpuTensor {
    const w = this.weights.get(key);
    if (!w) throw new A2VError("weights_key_missing", `weight ${key} was not loaded`);
    return w;
  }

  parameter(key: string): CpuTensor {
    const p = this.parameters.get(key);
    if (!p) throw new A2VError("parameter_missing", `parameter ${key} was not registered`);
    return p;
  }

  linear(x: CpuTensor, w: CpuTensor, b: CpuTensor | null): CpuTensor {
    const n = x.rows;
    const inDim = x.cols;
    const outDim = w.rows;
    if (w.cols !== inDim)
      throw new A2VError("tensor_shape_mismatch", `linear: x [${n},${inDim}] vs W [${outDim},${w.cols}]`);
    const y = new Float64Array(n * outDim);
    for (let r = 0; r < n; r++) {
      for (let o = 0; o < outDim; o++) {
        let s = b ? b.data[o]! : 0;
        for (let i = 0; i < inDim; i++) s += x.data[r * inDim + i]! * w.data[o * inDim + i]!;
        y[r * outDim + o] = s;
      }
    }
    return this.make(y, n, outDim, b ? [x, w, b] : [x, w], (out) => {
      const dy = out.grad!;
      if (x.requiresGrad) {
        const dx = gradOf(x);
        for (let r = 0; r < n; r++)
          for (let o = 0; o < outDim; o++) {
            const g = dy[r * outDim + o]!;
            if (g === 0) continue;
            for (let i = 0; i < inDim; i++) dx[r * inDim + i]! += g * w.data[o * inDim + i]!;
          }
      }
      if (w.requiresGrad) {
        const dw = gradOf(w);
        for (let r = 0; r < n; r++)
          for (let o = 0; o < outDim; o++) {
            const g = dy[r * outDim + o]!;
            for (let i = 0; i < inDim; i++) dw[o * inDim + i]! += g * x.data[r * inDim + i]!;
          }
      }
      if (b?.requiresGrad)
        for (let r = 0; r < n; r++) for (let o = 0; o < outDim; o++) accumulate(b, o, dy[r * outDim + o]!);
    });
  }

  private broadcast(a: CpuTensor, b: CpuTensor, op: string): number {
    if (a.cols !== b.cols || (a.rows !== b.rows && a.rows !== 1 && b.rows !== 1)) {
      throw new A2VError(
        "tensor_shape_mismatch",
        `${op}: cannot broadcast [${a.rows},${a.cols}] with [${b.rows},${b.cols}]`,
      );
    }
    return Math.max(a.rows, b.rows);
  }

  private elementwise(a: CpuTensor, b: CpuTensor, op: "add" | "mul"): CpuTensor {
    const rows = this.broadcast(a, b, op);
    const cols = a.cols;
    const y = new Float64Array(rows * cols);
    const ai = (r: number, c: number) => (a.rows === 1 ? c : r * cols + c);
    const bi = (r: number, c: number) => (b.rows === 1 ? c : r * cols + c);
    for (let r = 0; r < rows; r++)
      for (let c = 0; c < cols; c++) {
        const av = a.data[ai(r, c)]!;
        const bv = b.data[bi(r, c)]!;
        y[r * cols + c] = op === "add" ? av + bv : av * bv;
      }
    return this.make(y, rows, cols, [a, b], (out) => {
      const dy = out.grad!;
      for (let r = 0; r < rows; r++)
        for (let c = 0; c < cols; c++) {
          const g = dy[r * cols + c]!;
          if (a.requiresGrad) accumulate(a, ai(r, c), op === "add" ? g : g * b.data[bi(r, c)]!);
          if (b.requiresGrad) accumulate(b, bi(r, c), op === "add" ? g : g * a.data[ai(r, c)]!);
        }
    });
  }

  add(a: CpuTensor, b: CpuTensor): CpuTensor {
    return this.elementwise(a, b, "add");
  }

  mul(a: CpuTensor, b: CpuTensor): CpuTensor {
    return this.elementwise(a, b, "mul");
  }

  affine(a: CpuTensor, s: number, c: number): CpuTensor {
    const y = a.data.map((v) => v * s + c);
    return this.make(y, a.rows, a.cols, [a], (out) => {
      const dx = gradOf(a);
      for (let i = 0; i < y.length; i++) dx[i]! += out.grad![i]! * s;
    });
  }

  sliceCols(a: CpuTensor, start: number, end: number): CpuTensor {
    const cols = end - start;
    const y = new Float64Array(a.rows * cols);
    for (let r = 0; r < a.rows; r++) for (let c = 0; c < cols; c++) y[r * cols + c] = a.data[r * a.cols + start + c]!;
    return this.make(y, a.rows, cols, [a], (out) => {
      const dx = gradOf(a);
      for (let r = 0; r < a.rows; r++)
        for (let c = 0; c < cols; c++) dx[r * a.cols + start + c]! += out.grad![r * cols + c]!;
    });
  }

  sliceRows(a: CpuTensor, start: number, end: number): CpuTensor {
    const y = a.data.slice(start * a.cols, end * a.cols);
    return this.make(y, end - start, a.cols, [a], (out) => {
      const dx = gradOf(a);
      for (let i = 0; i < y.length; i++) dx[start * a.cols + i]! += out.grad![i]!;
    });
  }

  rmsNorm(x: CpuTensor, eps: number, weight: CpuTensor | null): CpuTensor {
    const { rows, cols } = x;
    const inv = new Float64Array(rows);
    const y = new Float64Array(rows * cols);
    for (let r = 0; r < rows; r++) {
      let ss = 0;
      for (let c = 0; c < cols; c++) ss += x.data[r * cols + c]! ** 2;
      inv[r] = 1 / Math.sqrt(ss / cols + eps);
      for (let c = 0; c < cols; c++) y[r * cols + c] = x.data[r * cols + c]! * inv[r]! * (weight ? weight.data[c]! : 1);
    }
    return this.make(y, rows, cols, weight ? [x, weight] : [x], (out) => {
      const dy = out.grad!;
      for (let r = 0; r < rows; r++) {
        const ir = inv[r]!;
        let dot = 0;
        for (let c = 0; c < cols; c++)
          dot += dy[r * cols + c]! * (weight ? weight.data[c]! : 1) * x.data[r * cols + c]!;
        for (let c = 0; c < cols; c++) {
          const i = r * cols + c;
          const g = dy[i]! * (weight ? weight.data[c]! : 1);
          if (x.requiresGrad) accumulate(x, i, ir * g - (x.data[i]! * ir ** 3 * dot) / cols);
          if (weight?.requiresGrad) accumulate(weight, c, dy[i]! * x.data[i]! * ir);
        }
      }
    });
  }

  layerNorm(x: CpuTensor, eps: number): CpuTensor {
    const { rows, cols } = x;
    const inv = new Float64Array(rows);
    const y = new Float64Array(rows * cols);
    for (let r = 0; r < rows; r++) {
      let mean = 0;
      for (let c = 0; c < cols; c++) mean += x.data[r * cols + c]!;
      mean /= cols;
      let v = 0;
      for (let c = 0; c < cols; c++) v += (x.data[r * cols + c]! - mean) ** 2;
      inv[r] = 1 / Math.sqrt(v / cols + eps);
      for (let c = 0; c < cols; c++) y[r * cols + c] = (x.data[r * cols + c]! - mean) * inv[r]!;
    }
    return this.make(y, rows, cols, [x], (out) => {
      const dy = out.grad!;
      for (let r = 0; r < rows; r++) {
        let sumG = 0;
        let sumGy = 0;
        for (let c = 0; c < cols; c++) {
          sumG += dy[r * cols + c]!;
          sumGy += dy[r * cols + c]! * y[r * cols + c]!;
        }
        for (let c = 0; c < cols; c++) {
          const i = r * cols + c;
          accumulate(x, i, inv[r]! * (dy[i]! - sumG / cols - (y[i]! * sumGy) / cols));
        }
      }
    });
  }

  private unary(x: CpuTensor, f: (v: number) => number, df: (v: number) => number): CpuTensor {
    const y = x.data.map(f);
    return this.make(y, x.rows, x.cols, [x], (out) => {
      const dx = gradOf(x);
      for (let i = 0; i < y.length; i++) dx[i]! += out.grad![i]! * df(x.data[i]!);
    });
  }

  silu(x: CpuTensor): CpuTensor {
    const sig = (v: number) => 1 / (1 + Math.exp(-v));
    return this.unary(
      x,
      (v) => v * sig(v),
      (v) => sig(v) * (1 + v * (1 - sig(v))),
    );
  }

  geluTanh(x: CpuTensor): CpuTensor {
    const k = Math.sqrt(2 / Math.PI);
    return this.unary(
      x,
      (v) => 0.5 * v * (1 + Math.tanh(k * (v + 0.044715 * v ** 3))),
      (v) => {
        const t = Math.tanh(k * (v + 0.044715 * v ** 3));
        return 0.5 * (1 + t) + 0.5 * v * (1 - t * t) * k * (1 + 3 * 0.044715 * v * v);
      },
    );
  }

  sigmoid(x: CpuTensor): CpuTensor {
    const sig = (v: number) => 1 / (1 + Math.exp(-v));
    return this.unary(x, sig, (v) => sig(v) * (1 - sig(v)));
  }

  rope(x: CpuTensor, cos: CpuTensor, sin: CpuTensor, heads: number): CpuTensor {
    const { rows, cols } = x;
    const dh = cols / heads;
    const half = dh / 2;
    if (cos.cols !== heads * half || cos.rows !== rows) {
      throw new A2VError(
        "tensor_shape_mismatch",
        `rope: table [${cos.rows},${cos.cols}] does not fit x [${rows},${cols}] with ${heads} heads`,
      );
    }
    const y = new Float64Array(rows * cols);
    for (let r = 0; r < rows; r++)
      for (let h = 0; h < heads; h++)
        for (let j = 0; j < half; j++) {
          const c = cos.data[r * cos.cols + h * half + j]!;
          const s = sin.data[r * cos.cols + h * half + j]!;
          const i1 = r * cols + h * dh + j;
          const i2 = i1 + half;
          y[i1] = x.data[i1]! * c - x.data[i2]! * s;
          y[i2] = x.data[i2]! * c + x.data[i1]! * s;
        }
    return this.make(y, rows, cols, [x], (out) => {
      const dy = out.grad!;
      const dx = gradOf(x);
      for (let r = 0; r < rows; r++)
        for (let h = 0; h < heads; h++)
          for (let j = 0; j < half; j++) {
            const c = cos.data[r * cos.cols + h * half + j]!;
            const s = sin.data[r * cos.cols + h * half + j]!;
            const i1 = r * cols + h * dh + j;
            const i2 = i1 + half;
            dx[i1]! += dy[i1]! * c + dy[i2]! * s;
            dx[i2]! += -dy[i1]! * s + dy[i2]! * c;
          }
    });
  }

  attention(q: CpuTensor, k: CpuTensor, v: CpuTensor, heads: number): CpuTensor {
    const nq = q.rows;
    const nk = k.rows;
    const width = q.cols;
    const dh = width / heads;
    const scale = 1 / Math.sqrt(dh);
    const probs = new Float64Array(heads * nq * nk);
    const y = new Float64Array(nq * width);
    for (let h = 0; h < heads; h++)
      for (let i = 0; i < nq; i++) {
        const p = probs.subarray((h * nq + i) * nk, (h * nq + i + 1) * nk);
        let max = Number.NEGATIVE_INFINITY;
        for (let j = 0; j < nk; j++) {
          let s = 0;
          for (let d = 0; d < dh; d++) s += q.data[i * width + h * dh + d]! * k.data[j * width + h * dh + d]!;
          p[j] = s * scale;
          if (p[j]! > max) max = p[j]!;
        }
        let sum = 0;
        for (let j = 0; j < nk; j++) {
          p[j] = Math.exp(p[j]! - max);
          sum += p[j]!;
        }
        for (let j = 0; j < nk; j++) p[j]! /= sum;
        for (let d = 0; d < dh; d++) {
          let acc = 0;
          for (let j = 0; j < nk; j++) acc += p[j]! * v.data[j * width + h * dh + d]!;
          y[i * width + h * dh + d] = acc;
        }
      }
    return this.make(y, nq, width, [q, k, v], (out) => {
      const dy = out.grad!;
      const dp = new Float64Array(nk);
      for (let h = 0; h < heads; h++)
        for (let i = 0; i < nq; i++) {
          const p = probs.subarray((h * nq + i) * nk, (h * nq + i + 1) * nk);
          let dot = 0;
          for (let j = 0; j < nk; j++) {
            let s = 0;
            for (let d = 0; d < dh; d++) s += dy[i * width + h * dh + d]! * v.data[j * width + h * dh + d]!;
            dp[j] = s;
            dot += s * p[j]!;
          }
          for (let j = 0; j < nk; j++) {
            const ds = p[j]! * (dp[j]! - dot) * scale;
            for (let d = 0; d < dh; d++) {
              const qi = i * width + h * dh + d;
              const kj = j * width + h * dh + d;
              if (q.requiresGrad) accumulate(q, qi, ds * k.data[kj]!);
              if (k.requiresGrad) accumulate(k, kj, ds * q.data[qi]!);
              if (v.requiresGrad) accumulate(v, kj, p[j]! * dy[qi]!);
            }
          }
        }
    });
  }

  mulPerHead(x: CpuTensor, g: CpuTensor, heads: number): CpuTensor {
    const { rows, cols } = x;
    const dh = cols / heads;
    const y = new Float64Array(rows * cols);
    for (let r = 0; r < rows; r++)
      for (let c = 0; c < cols; c++) y[r * cols + c] = x.data[r * cols + c]! * g.data[r * heads + Math.floor(c / dh)]!;
    return this.make(y, rows, cols, [x, g], (out) => {
      const dy = out.grad!;
      for (let r = 0; r < rows; r++)
        for (let c = 0; c < cols; c++) {
          const i = r * cols + c;
          const gi = r * heads + Math.floor(c / dh);
          if (x.requiresGrad) accumulate(x, i, dy[i]! * g.data[gi]!);
          if (g.requiresGrad) accumulate(g, gi, dy[i]! * x.data[i]!);
        }
    });
  }

  maskedMse(a: CpuTensor, b: CpuTensor, rowMask: Float32Array): CpuTensor {
    const { rows, cols } = a;
    let maskMean = 0;
    for (let r = 0; r < rows; r++) maskMean += rowMask[r]!;
    maskMean = Math.max(maskMean / rows, 1e-8);
    let sum = 0;
    for (let r = 0; r < rows; r++)
      for (let c = 0; c < cols; c++) sum += rowMask[r]! * (a.data[r * cols + c]! - b.data[r * cols + c]!) ** 2;
    const norm = rows * cols * maskMean;
    return this.make(Float64Array.of(sum / norm), 1, 1, [a, b], (out) => {
      const g = out.grad![0]!;
      for (let r = 0; r < rows; r++)
        for (let c = 0; c < cols; c++) {
          const i = r * cols + c;
          const d = (2 * g * rowMask[r]! * (a.data[i]! - b.data[i]!)) / norm;
          if (a.requiresGrad) accumulate(a, i, d);
          if (b.requiresGrad) accumulate(b, i, -d);
        }
    });
  }

  async read(x: CpuTensor): Promise<Float32Array> {
    return Float32Array.from(x.data);
  }
}
