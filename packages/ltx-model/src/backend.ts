/**
 * The operations the transformer is written in. The model code (`transformer.ts`) is generic over
 * this interface, so one description of the architecture runs on the float64 CPU reference
 * (`reference/cpu-backend.ts`, used to pin parity) and on the GPU runtime.
 *
 * Every tensor is 2-D, `[rows, cols]` row-major: tokens × features. A `[1, C]` operand broadcasts
 * over rows in `add`/`mul`.
 */
export interface Backend<T> {
  /** A constant (no gradient) from host data. */
  constant(data: Float32Array | Float64Array, rows: number, cols: number): T;
  /** A frozen model weight, loaded beforehand by `loadWeights`; 1-D weights come back `[1, n]`. */
  weight(key: string): T;
  /** A trainable parameter (LoRA), registered by `addParameter`. */
  parameter(key: string): T;

  /** x·Wᵀ + b, x `[N, in]`, W `[out, in]`, b `[1, out]`. */
  linear(x: T, w: T, b: T | null): T;
  add(a: T, b: T): T;
  mul(a: T, b: T): T;
  /** a·s + c elementwise. */
  affine(a: T, s: number, c: number): T;
  /** Columns [start, end). */
  sliceCols(a: T, start: number, end: number): T;
  /** Rows [start, end). */
  sliceRows(a: T, start: number, end: number): T;
  /** x / sqrt(mean(x²) + eps) (· weight), over each row. */
  rmsNorm(x: T, eps: number, weight: T | null): T;
  /** (x − mean) / sqrt(var + eps) over each row, no affine. */
  layerNorm(x: T, eps: number): T;
  silu(x: T): T;
  geluTanh(x: T): T;
  sigmoid(x: T): T;
  /**
   * Split RoPE per head: within head h, halves x1/x2 of width dh/2 rotate by the table's columns
   * [h·dh/2, (h+1)·dh/2): (x1·cos − x2·sin, x2·cos + x1·sin). `cos`/`sin` are `[N, heads·dh/2]`.
   */
  rope(x: T, cos: T, sin: T, heads: number): T;
  /** Scaled dot-product attention per head, softmax(q·kᵀ/√dh)·v; q `[Nq, H·dh]`, k/v `[Nk, H·dh]`. */
  attention(q: T, k: T, v: T, heads: number): T;
  /** x `[N, H·dh]` times a per-head factor g `[N, H]` broadcast over each head's dh columns. */
  mulPerHead(x: T, g: T, heads: number): T;
  /** mean over rows and columns of mask_row·(a − b)², divided by mean(mask): a `[1,1]` scalar. */
  maskedMse(a: T, b: T, rowMask: Float32Array): T;

  /** Optional fused LoRA linear x·Wᵀ + b + s·(x·Aᵀ)·Bᵀ; the model composes it from `linear` otherwise. */
  loraLinear?(x: T, w: T, b: T | null, loraA: T, loraB: T, scale: number): T;
  /**
   * Optional block runner: frees the block's temporaries when it returns and, with `checkpoint`,
   * keeps only its inputs and recomputes it in backward (per-block gradient checkpointing).
   */
  runBlock?(fn: (vx: T, ax: T) => { vx: T; ax: T }, vx: T, ax: T, checkpoint: boolean): { vx: T; ax: T };

  /** Host copy of a tensor's values. */
  read(x: T): Promise<Float32Array>;
}
