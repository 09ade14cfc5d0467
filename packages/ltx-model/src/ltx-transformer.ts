import { A2VError } from "@a2v/errors";
import {
  type AttentionOptions,
  add,
  addLoraUpdate,
  backward,
  concat,
  type Device,
  linear,
  mul,
  quantize,
  quantizedLinear,
  rt,
  slice,
  type Tensor,
  tensor,
} from "@a2v/tensor-webgpu";
import { isBlockLinear, type WeightMode } from "./layout.js";
import type { WeightSource } from "./weights/checkpoint.js";

export type AttentionKernel = NonNullable<AttentionOptions["kernel"]>;

function maxBindingBytes(): number {
  return rt().gpu.info.limits.maxStorageBufferBindingSize ?? 2 ** 27;
}

export interface LtxTransformerOptions {
  /** Where the weights live and the forward runs: the GPU runtime (default) or the CPU device (f64 reference). */
  device?: Device;
  /**
   * Storage type of frozen weights: bf16 halves memory (the 22B model's native dtype); "fp8" and "int8" keep
   * the block linears as 8-bit codes on the device (fp8 e4m3 with one scale per tensor, as the official fp8
   * checkpoint stores them and read as stored; int8 with one scale per output channel, quantized on load) and
   * the other weights in bf16. The matmul kernels decode the codes as they load them.
   */
  weightDType?: WeightMode;
  /**
   * Use the runtime's fused kernels (flash attention, RoPE, LoRA linear). Default true; false composes
   * them from matmul/softmax/elementwise ops (the benchmark's baseline).
   */
  fused?: boolean;
  /**
   * The fused attention's kernel (`attention()`'s `kernel`): "auto" (default: materialized scores on CPU adapters,
   * flash elsewhere), "fused" (flash: scores never stored, as on a GPU), "materialized".
   */
  attentionKernel?: AttentionKernel;
}

/**
 * The transformer's state on one device: its frozen weights, the trainable LoRA parameters, and the kernel
 * choice (fused attention/RoPE/LoRA kernels, or the same maths composed from plain ops). `ltxForward`
 * runs the architecture on it. On the GPU it needs `await init()`; run steps inside `scope()` (see `a2vStep`).
 */
export class LtxTransformer {
  private readonly weights = new Map<string, Tensor>();
  private readonly parameters = new Map<string, Tensor>();
  /**
   * Weights larger than one storage binding (lavapipe: 128 MiB, e.g. the 22B AdaLN linear
   * [9·4096, 4096]) are kept as row blocks; `weights` then holds the first block as the handle.
   */
  private readonly rowBlocks = new Map<Tensor, Tensor[]>();
  /** Scales of the weights kept as 8-bit codes: per output channel (`[out]`) or one per tensor. */
  private readonly scales = new Map<Tensor, Tensor | number>();
  readonly fused: boolean;
  readonly attentionKernel: AttentionKernel;
  readonly device: Device;
  /** How gradient checkpointing stores block inputs: bf16 with bf16/fp8/int8 weights (the 22B plan), else f32. */
  readonly checkpointDType: "f32" | "bf16";

  constructor(private readonly options: LtxTransformerOptions = {}) {
    this.fused = options.fused ?? true;
    this.attentionKernel = options.attentionKernel ?? "auto";
    this.device = options.device ?? "gpu";
    this.checkpointDType = (options.weightDType ?? "f32") === "f32" ? "f32" : "bf16";
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
      if ((dtype === "fp8" || dtype === "int8") && isBlockLinear(key, shape)) {
        this.weights.set(key, await this.loadCodes(source, key, shape as [number, number], dtype));
        onProgress?.(i + 1, list.length);
        continue;
      }
      // Modulation tables and norms stay f32: they are tiny and feed additions, not GEMMs.
      const asBf16 = dtype !== "f32" && shape.length === 2 && key.endsWith(".weight");
      const values = await source.readFloat32(key);
      const rowBytes = (shape[1] ?? 1) * (asBf16 ? 2 : 4);
      const rowsPerBlock = this.device === "gpu" ? Math.floor(maxBindingBytes() / rowBytes) : Number.POSITIVE_INFINITY;
      if (shape.length === 2 && shape[0]! > rowsPerBlock) {
        const blocks: Tensor[] = [];
        for (let r = 0; r < shape[0]!; r += rowsPerBlock) {
          const rows = Math.min(rowsPerBlock, shape[0]! - r);
          const part = values.subarray(r * shape[1]!, (r + rows) * shape[1]!);
          blocks.push(tensor(part, [rows, shape[1]!], asBf16 ? "bf16" : "f32", this.device));
        }
        this.rowBlocks.set(blocks[0]!, blocks);
        this.weights.set(key, blocks[0]!);
      } else {
        this.weights.set(key, tensor(values, shape.length === 0 ? [1] : shape, asBf16 ? "bf16" : "f32", this.device));
      }
      onProgress?.(i + 1, list.length);
    }
  }

  /** A block linear as 8-bit codes: an official fp8 tensor as stored, anything else quantized here. */
  private async loadCodes(
    source: WeightSource,
    key: string,
    shape: [number, number],
    mode: "fp8" | "int8",
  ): Promise<Tensor> {
    const stored = mode === "fp8" ? await source.readFp8?.(key) : undefined;
    if (stored) {
      const codes = tensor(stored.codes, shape, "f8e4m3", this.device);
      this.scales.set(codes, stored.scale);
      return codes;
    }
    const { codes, scale } = quantize(await source.readFloat32(key), shape, mode, this.device);
    this.scales.set(codes, scale);
    return codes;
  }

  /** Registers a trainable parameter (LoRA A or B). */
  addParameter(key: string, data: ArrayLike<number>, rows: number, cols: number): Tensor {
    this.parameters.get(key)?.dispose();
    const t = tensor(Float32Array.from(data), [rows, cols], "f32", this.device);
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
    for (const scale of this.scales.values()) if (typeof scale !== "number") scale.dispose();
    for (const t of [...this.weights.values(), ...this.parameters.values()]) t.dispose();
    this.scales.clear();
    this.rowBlocks.clear();
    this.weights.clear();
    this.parameters.clear();
  }

  /** A constant (no gradient) of `shape` on this transformer's device (the CPU device keeps f64 values). */
  constant(data: Float32Array | Float64Array, ...shape: number[]): Tensor {
    return tensor(data, shape, "f32", this.device);
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

  /** x·Wᵀ + b: over 8-bit codes and their scales, or split over a weight kept as row blocks. */
  linear(x: Tensor, w: Tensor, b: Tensor | null): Tensor {
    const scale = this.scales.get(w);
    if (scale !== undefined) return quantizedLinear(x, w, scale, b ?? undefined);
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

  /**
   * x·Wᵀ + b + s·(x·Aᵀ)·Bᵀ: fused, the low-rank product lands in the epilogue of its GEMM over the base product
   * (plain, 8-bit codes or row blocks), so no intermediate of the output's size is kept; composed (`fused: false`)
   * from plain ops.
   */
  loraLinear(x: Tensor, w: Tensor, b: Tensor | null, loraA: Tensor, loraB: Tensor, scale: number): Tensor {
    if (!this.fused) return add(this.linear(x, w, b), mul(linear(linear(x, loraA), loraB), scale));
    const base = this.linear(x, w, b);
    const out = addLoraUpdate(base, x, loraA, loraB, scale);
    base.dispose();
    return out;
  }
}
