import { A2VError } from "@a2v/errors";
import {
  add,
  attention,
  backward,
  checkpoint,
  concat,
  flatten,
  gelu,
  layerNorm,
  linear,
  loraLinear,
  matmul,
  mul,
  permute,
  reshape,
  rmsNorm,
  rope,
  rt,
  scope,
  sigmoid,
  silu,
  slice,
  softmax,
  square,
  sub,
  sum,
  type Tensor,
  tensor,
} from "@a2v/tensor-webgpu";
import { type A2VPreparedStep, a2vLoss } from "../a2v-step.js";
import type { Backend } from "../backend.js";
import type { LtxTransformerConfig } from "../config.js";
import type { ForwardOptions } from "../transformer.js";
import type { WeightSource } from "../weights/checkpoint.js";

function maxBindingBytes(): number {
  return rt().gpu.info.limits.maxStorageBufferBindingSize ?? 2 ** 27;
}

export interface GpuBackendOptions {
  /** Storage type of frozen weights: bf16 halves memory (the 22B model's native dtype). */
  weightDType?: "f32" | "bf16";
  /**
   * Use the runtime's fused kernels (flash attention, RoPE, LoRA linear). Default true; false composes
   * them from matmul/softmax/elementwise ops (the benchmark's baseline).
   */
  fused?: boolean;
}

/**
 * `Backend` on `@a2v/tensor-webgpu` tensors (Dawn): fused attention/RoPE/LoRA kernels, or the same
 * maths composed from plain ops. Needs `await init()`; run steps inside `scope()` (see `gpuA2VStep`).
 */
export class GpuBackend implements Backend<Tensor> {
  private readonly weights = new Map<string, Tensor>();
  private readonly parameters = new Map<string, Tensor>();
  /**
   * Weights larger than one storage binding (lavapipe: 128 MiB, e.g. the 22B AdaLN linear
   * [9·4096, 4096]) are kept as row blocks; `weights` then holds the first block as the handle.
   */
  private readonly rowBlocks = new Map<Tensor, Tensor[]>();
  readonly loraLinear?: Backend<Tensor>["loraLinear"];

  private readonly fused: boolean;

  constructor(private readonly options: GpuBackendOptions = {}) {
    this.fused = options.fused ?? true;
    if (this.fused) {
      this.loraLinear = (x, w, b, a, bb, s) =>
        this.rowBlocks.has(w)
          ? add(this.linear(x, w, b), mul(linear(linear(x, a), bb), s))
          : loraLinear(x, w, b ?? undefined, a, bb, s);
    }
  }

  /**
   * Uploads frozen weights one at a time (each read lazily from its source), reporting progress.
   * Weights live outside any `scope()` until `dispose()`.
   */
  async loadWeights(
    source: WeightSource,
    keys: Iterable<string>,
    onProgress?: (done: number, total: number) => void,
  ): Promise<void> {
    const list = [...keys];
    const dtype = this.options.weightDType ?? "f32";
    for (let i = 0; i < list.length; i++) {
      const key = list[i]!;
      const shape = source.shape(key);
      if (!shape) throw new A2VError("weight_missing", `weight ${key} is missing`, { status: 422 });
      // Modulation tables and norms stay f32: they are tiny and feed additions, not GEMMs.
      const asBf16 = dtype === "bf16" && shape.length === 2 && key.endsWith(".weight");
      const values = await source.readFloat32(key);
      const rowBytes = (shape[1] ?? 1) * (asBf16 ? 2 : 4);
      const rowsPerBlock = Math.floor(maxBindingBytes() / rowBytes);
      if (shape.length === 2 && shape[0]! > rowsPerBlock) {
        const blocks: Tensor[] = [];
        for (let r = 0; r < shape[0]!; r += rowsPerBlock) {
          const rows = Math.min(rowsPerBlock, shape[0]! - r);
          const part = values.subarray(r * shape[1]!, (r + rows) * shape[1]!);
          blocks.push(tensor(part, [rows, shape[1]!], asBf16 ? "bf16" : "f32"));
        }
        this.rowBlocks.set(blocks[0]!, blocks);
        this.weights.set(key, blocks[0]!);
      } else {
        this.weights.set(key, tensor(values, shape.length === 0 ? [1] : shape, asBf16 ? "bf16" : "f32"));
      }
      onProgress?.(i + 1, list.length);
    }
  }

  /** Registers a trainable parameter (LoRA A or B). */
  addParameter(key: string, data: ArrayLike<number>, rows: number, cols: number): Tensor {
    this.parameters.get(key)?.dispose();
    const t = tensor(Float32Array.from(data), [rows, cols]);
    t.requiresGrad = true;
    this.parameters.set(key, t);
    return t;
  }

  /** The accumulated gradient of a parameter after `backward` (zeros if it got none). */
  async parameterGrad(key: string): Promise<Float32Array> {
    const p = this.parameters.get(key);
    if (!p) throw new A2VError("parameter_missing", `no parameter ${key}`);
    if (!p.grad) return new Float32Array(p.size);
    return (await p.grad.toArray()) as Float32Array;
  }

  /** Back-propagates a scalar loss into the parameters' `grad`. */
  backward(loss: Tensor): void {
    backward(loss);
  }

  /** Clears accumulated parameter gradients. */
  zeroGrad(): void {
    for (const p of this.parameters.values()) {
      p.grad?.dispose();
      p.grad = undefined;
    }
  }

  dispose(): void {
    for (const blocks of this.rowBlocks.values()) for (const t of blocks.slice(1)) t.dispose();
    for (const t of [...this.weights.values(), ...this.parameters.values()]) t.dispose();
    this.rowBlocks.clear();
    this.weights.clear();
    this.parameters.clear();
  }

  constant(data: Float32Array | Float64Array, rows: number, cols: number): Tensor {
    return tensor(data instanceof Float32Array ? data : Float32Array.from(data), [rows, cols]);
  }

  weight(key: string): Tensor {
    const w = this.weights.get(key);
    if (!w) throw new A2VError("weights_key_missing", `weight ${key} was not loaded`);
    return w;
  }

  parameter(key: string): Tensor {
    const p = this.parameters.get(key);
    if (!p) throw new A2VError("parameter_missing", `parameter ${key} was not registered`);
    return p;
  }

  linear(x: Tensor, w: Tensor, b: Tensor | null): Tensor {
    const blocks = this.rowBlocks.get(w);
    if (!blocks) return linear(x, w, b ?? undefined);
    let row = 0;
    const parts = blocks.map((block) => {
      const rows = block.shape[0]!;
      const part = linear(x, block, b ? slice(b, 0, row, row + rows) : undefined);
      row += rows;
      return part;
    });
    return concat(parts, 1);
  }

  add(a: Tensor, b: Tensor): Tensor {
    return add(a, b);
  }

  mul(a: Tensor, b: Tensor): Tensor {
    return mul(a, b);
  }

  affine(a: Tensor, s: number, c: number): Tensor {
    const scaled = s === 1 ? a : mul(a, s);
    return c === 0 ? scaled : add(scaled, c);
  }

  sliceCols(a: Tensor, start: number, end: number): Tensor {
    return slice(a, 1, start, end);
  }

  sliceRows(a: Tensor, start: number, end: number): Tensor {
    return slice(a, 0, start, end);
  }

  rmsNorm(x: Tensor, eps: number, weight: Tensor | null): Tensor {
    return rmsNorm(x, weight ?? undefined, { eps });
  }

  layerNorm(x: Tensor, eps: number): Tensor {
    return layerNorm(x, eps);
  }

  silu(x: Tensor): Tensor {
    return silu(x);
  }

  geluTanh(x: Tensor): Tensor {
    return gelu(x);
  }

  sigmoid(x: Tensor): Tensor {
    return sigmoid(x);
  }

  rope(x: Tensor, cos: Tensor, sin: Tensor, heads: number): Tensor {
    const [n, width] = x.shape as [number, number];
    const half = width / heads / 2;
    if (this.fused) {
      const table = (t: Tensor) => reshape(t, [n, heads, half]);
      return reshape(rope(reshape(x, [n, heads, 2 * half]), table(cos), table(sin), "split"), [n, width]);
    }
    const xr = reshape(x, [n, heads, 2, half]);
    const x1 = slice(xr, 2, 0, 1);
    const x2 = slice(xr, 2, 1, 2);
    const c = reshape(cos, [n, heads, 1, half]);
    const s = reshape(sin, [n, heads, 1, half]);
    const o1 = sub(mul(x1, c), mul(x2, s));
    const o2 = add(mul(x2, c), mul(x1, s));
    return reshape(concat([o1, o2], 2), [n, width]);
  }

  attention(q: Tensor, k: Tensor, v: Tensor, heads: number): Tensor {
    const [nq, width] = q.shape as [number, number];
    const nk = k.shape[0]!;
    const dh = width / heads;
    if (this.fused) {
      const heads4 = (t: Tensor, rows: number) => permute(reshape(t, [1, rows, heads, dh]), [0, 2, 1, 3]);
      const out = attention(heads4(q, nq), heads4(k, nk), heads4(v, nk));
      return reshape(permute(out, [0, 2, 1, 3]), [nq, width]);
    }
    const qh = permute(reshape(q, [nq, heads, dh]), [1, 0, 2]);
    const khT = permute(reshape(k, [nk, heads, dh]), [1, 2, 0]);
    const vh = permute(reshape(v, [nk, heads, dh]), [1, 0, 2]);
    const probs = softmax(matmul(qh, khT, { alpha: 1 / Math.sqrt(dh) }));
    const out = matmul(probs, vh);
    return reshape(permute(out, [1, 0, 2]), [nq, width]);
  }

  mulPerHead(x: Tensor, g: Tensor, heads: number): Tensor {
    const [n, width] = x.shape as [number, number];
    return reshape(mul(reshape(x, [n, heads, width / heads]), reshape(g, [n, heads, 1])), [n, width]);
  }

  maskedMse(a: Tensor, b: Tensor, rowMask: Float32Array): Tensor {
    const [rows, cols] = a.shape as [number, number];
    let maskMean = 0;
    for (const m of rowMask) maskMean += m;
    maskMean = Math.max(maskMean / rows, 1e-8);
    const weighted = mul(square(sub(a, b)), tensor(rowMask, [rows, 1]));
    return reshape(mul(sum(weighted), 1 / (rows * cols * maskMean)), [1, 1]);
  }

  runBlock(
    fn: (vx: Tensor, ax: Tensor) => { vx: Tensor; ax: Tensor },
    vx: Tensor,
    ax: Tensor,
    useCheckpoint: boolean,
  ): { vx: Tensor; ax: Tensor } {
    if (!useCheckpoint) return scope(() => fn(vx, ax));
    return scope(() => {
      // The runtime checkpoints single-output functions: pack both streams into one vector.
      const packed = checkpoint(
        (v, a) => {
          const out = fn(v, a);
          return concat([flatten(out.vx), flatten(out.ax)], 0);
        },
        vx,
        ax,
      );
      return {
        vx: reshape(slice(packed, 0, 0, vx.size), vx.shape),
        ax: reshape(slice(packed, 0, vx.size, vx.size + ax.size), ax.shape),
      };
    });
  }

  async read(x: Tensor): Promise<Float32Array> {
    return (await x.toArray()) as Float32Array;
  }
}

/** Host results of one GPU training step. */
export interface GpuStepResult {
  video: Float32Array;
  audio: Float32Array;
  loss: number;
}

type StepOptions = ForwardOptions & { train?: boolean };

/**
 * One audio-to-video training step on the GPU: forward, masked loss and (with `train`) backward into
 * the LoRA parameters' `grad`, all in one `scope()` so gradient-checkpoint recomputation still finds
 * the per-step tensors (AdaLN values, RoPE tables) it closes over. `read` takes what the caller needs
 * to the host before the step's tensors are freed.
 */
async function runA2VStep<R>(
  b: GpuBackend,
  config: LtxTransformerConfig,
  step: A2VPreparedStep,
  options: StepOptions,
  read: (out: { video: Tensor; audio: Tensor; loss: Tensor }) => Promise<R>,
): Promise<R> {
  const out = scope(() => {
    const result = a2vLoss(b, config, step, options);
    if (options.train) b.backward(result.loss);
    return result;
  });
  try {
    return await read(out);
  } finally {
    for (const t of Object.values(out)) t.dispose();
  }
}

/** `runA2VStep` with the predictions and the loss read back (parity checks, sampling). */
export function gpuA2VStep(
  b: GpuBackend,
  config: LtxTransformerConfig,
  step: A2VPreparedStep,
  options: StepOptions = {},
): Promise<GpuStepResult> {
  return runA2VStep(b, config, step, options, async (out) => {
    const [video, audio, loss] = await Promise.all([b.read(out.video), b.read(out.audio), b.read(out.loss)]);
    return { video, audio, loss: loss[0]! };
  });
}

/** `runA2VStep` reading back one number, the loss: what a training step needs from the GPU. */
export function gpuA2VLoss(
  b: GpuBackend,
  config: LtxTransformerConfig,
  step: A2VPreparedStep,
  options: StepOptions = {},
): Promise<number> {
  return runA2VStep(b, config, step, options, async (out) => (await b.read(out.loss))[0]!);
}
