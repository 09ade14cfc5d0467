import {
  type AttentionOptions,
  attention,
  backward,
  type ConvKernel,
  conv3d,
  linear,
  type MatmulVariant,
  matmulRaw,
  quantize,
  quantizedLinear,
  randn,
  softmax,
  sum,
  type Tensor,
  type TileConfig,
  tensor,
  transpose,
} from "../src/index.js";

/** One benchmark task: what it computes, its FLOPs, and the task it is compared with. */
export interface BenchCase {
  name: string;
  flops: number;
  baseline?: string;
  iterations: number;
  warmup: number;
  run: () => void;
}

/** The baseline: the plain register-tiled kernel fixed to 64×64 tiles (no tensor cores). */
const TILE_64: TileConfig = { bm: 64, bn: 64, bk: 8, tm: 8, tn: 8 };

/** Random operands, made once per shape on first use (after init()). */
function cachedInputs(): (key: string, make: () => Tensor[]) => Tensor[] {
  const made = new Map<string, Tensor[]>();
  return (key, make) => {
    let t = made.get(key);
    if (!t) {
      t = make();
      made.set(key, t);
    }
    return t;
  };
}

/**
 * Products queued per timed iteration, so that each iteration does at least ~64 MFLOP: a lone small
 * product would time the submit-to-completion latency (~0.3 ms on lavapipe), not the kernel, while a
 * training step queues hundreds of products back to back.
 */
function repeats(m: number, k: number, n: number): number {
  return Math.max(1, Math.ceil(2 ** 26 / (2 * m * n * k)));
}

/**
 * Matmul tasks. Shapes are sized for lavapipe; `scale` 8 on a GPU gives the squares up to 4096 and
 * transformer-sized GEMMs (tokens × d_model · d_model × {d_model, 4·d_model}) with LoRA rank 32.
 */
export function matmulCases(scale: number): BenchCase[] {
  const inputs = cachedInputs();
  const cases: BenchCase[] = [];
  const gemm = (label: string, m: number, k: number, n: number): void => {
    const base = `${label} 64×64 tiles`;
    const reps = repeats(m, k, n);
    const flops = 2 * m * n * k * reps;
    const run = (variant: MatmulVariant, tile?: TileConfig) => () => {
      const [a, b] = inputs(`${m}x${k}x${n}`, () => [randn([m, k], 1), randn([k, n], 2)]);
      for (let i = 0; i < reps; i++) matmulRaw(a!, b!, {}, variant, tile).dispose();
    };
    const common = { flops, iterations: 10, warmup: 2 };
    cases.push({ name: base, run: run("tiled", TILE_64), ...common });
    cases.push({ name: `${label} naive`, run: run("naive"), baseline: base, ...common });
    // The SIMT kernel with the tile this shape gets (the "SIMT f32" figure on a GPU).
    cases.push({ name: `${label} tiled`, run: run("tiled"), baseline: base, ...common });
    // What matmul() runs on this adapter: packed panels on lavapipe, tiled or tensor cores on a GPU.
    cases.push({ name: `${label} auto`, run: run("auto"), baseline: base, ...common });
  };
  for (const n of [128, 256, 512].map((v) => v * scale)) gemm(`${n}³`, n, n, n);
  const [tokens, dModel, rank] = [256 * scale, 256 * scale, 32];
  gemm(`tokens ${tokens} × ${dModel} · ${dModel}`, tokens, dModel, dModel);
  gemm(`tokens ${tokens} × ${dModel} · ${4 * dModel}`, tokens, dModel, 4 * dModel);
  // LoRA rank 32: down- and up-projection forward, and the two weight gradients (K = tokens).
  gemm(`LoRA down ${tokens} × ${dModel} · r${rank}`, tokens, dModel, rank);
  gemm(`LoRA up ${tokens} × r${rank} · ${dModel}`, tokens, rank, dModel);
  gemm(`LoRA dA r${rank} × ${tokens} · ${dModel}`, rank, tokens, dModel);
  gemm(`LoRA dB ${dModel} × ${tokens} · r${rank}`, dModel, tokens, rank);
  return cases;
}

/**
 * Attention tasks at head dim 128: sequence 128..1024 × `scale` (1k..8k at scale 8) with `heads` heads.
 * The baseline is softmax(q·kᵀ/√d)·v with both products on the 64×64-tile kernel, forward only.
 */
export function attentionCases(scale: number, heads: number): BenchCase[] {
  const d = 128;
  const inputs = cachedInputs();
  const qkv = (l: number, grad: boolean): Tensor[] => {
    const t = inputs(`${l}`, () => [1, 2, 3].map((s) => randn([1, heads, l, d], s)));
    for (const x of t) x.requiresGrad = grad;
    return t;
  };
  const cases: BenchCase[] = [];
  for (const l of [128, 256, 512, 1024].map((n) => n * scale)) {
    const flops = 4 * heads * l * l * d;
    const common = { iterations: 5, warmup: 1 };
    const base = `forward L${l} naive tiled`;
    cases.push({
      name: base,
      flops,
      ...common,
      run: () => {
        const [q, k, v] = qkv(l, false);
        const kt = transpose(k!);
        const s = matmulRaw(q!, kt, { alpha: 1 / Math.sqrt(d) }, "tiled", TILE_64);
        const p = softmax(s);
        matmulRaw(p, v!, {}, "tiled", TILE_64).dispose();
        for (const t of [kt, s, p]) t.dispose();
      },
    });
    const kernels: Array<NonNullable<AttentionOptions["kernel"]>> = ["fused", "materialized"];
    for (const kernel of kernels) {
      cases.push({
        name: `forward L${l} ${kernel}`,
        flops,
        baseline: base,
        ...common,
        run: () => {
          const [q, k, v] = qkv(l, false);
          attention(q!, k!, v!, { kernel }).dispose();
        },
      });
    }
    // Backward does ~2.5× the forward's FLOPs (recomputes P, then dV, dP, dQ, dK); compared with fused.
    for (const kernel of kernels) {
      cases.push({
        name: `forward+backward L${l} ${kernel}`,
        flops: 3.5 * flops,
        ...(kernel === "fused" ? {} : { baseline: `forward+backward L${l} fused` }),
        ...common,
        run: () => {
          const [q, k, v] = qkv(l, true);
          const loss = sum(attention(q!, k!, v!, { kernel }));
          backward(loss);
          loss.dispose();
          for (const x of [q, k, v]) {
            x!.grad?.dispose();
            x!.grad = undefined;
          }
        },
      });
    }
  }
  return cases;
}

/**
 * conv3d tasks: the layers of the embedded tiny model's video VAE encoder on a [1, 3, F, 288, 512] clip (patch 4,
 * so 72 × 128 positions per frame at full resolution), k = 3³ with causal time padding (two replicated frames
 * already in the input) and spatial zero padding 1, `frames` output frames (the clip has 25 at the first level).
 * The baseline is the shape-generic one-position-per-thread kernel (`kernel: "small"`, the previous CPU-adapter
 * path); `direct` is what conv3d runs on CPU adapters now (conv-direct.ts). `tiled` rows (the GPU path) only with
 * `withTiled`, since each shape compiles its own pipeline (seconds on lavapipe).
 */
export function convCases(frames: number, withTiled = false): BenchCase[] {
  const inputs = cachedInputs();
  const cases: BenchCase[] = [];
  const layer = (label: string, ci: number, co: number, h: number, w: number): void => {
    const positions = frames * h * w;
    const flops = 2 * positions * co * ci * 27;
    const base = `${label} small`;
    const run = (kernel: ConvKernel) => () => {
      const [x, weight, bias] = inputs(label, () => [
        randn([1, ci, frames + 2, h, w], 1),
        randn([co, ci, 3, 3, 3], 2),
        randn([co], 3),
      ]);
      const padding: [[number, number], [number, number], [number, number]] = [
        [0, 0],
        [1, 1],
        [1, 1],
      ];
      conv3d(x!, weight!, { padding, bias: bias!, kernel }).dispose();
    };
    const common = { flops, iterations: 3, warmup: 1 };
    cases.push({ name: base, run: run("small"), ...common });
    cases.push({ name: `${label} direct`, run: run("direct"), baseline: base, ...common });
    if (withTiled) cases.push({ name: `${label} tiled`, run: run("tiled"), baseline: base, ...common });
  };
  layer("conv_in 48→8 @72×128", 48, 8, 72, 128);
  layer("res 8→8 @72×128", 8, 8, 72, 128);
  layer("compress_space 8→4 @72×128", 8, 4, 72, 128);
  layer("res 16→16 @36×64", 16, 16, 36, 64);
  layer("res 32→32 @36×64", 32, 32, 36, 64);
  layer("compress_all 32→8 @36×64", 32, 8, 36, 64);
  layer("res 64→64 @18×32", 64, 64, 18, 32);
  layer("compress_all 64→8 @18×32", 64, 8, 18, 32);
  return cases;
}

/**
 * Linear layers on quantized weights (issue 18): x [tokens, d] · Wᵀ with W [4·d, d] (a transformer MLP up-projection)
 * as f32 and bf16 weights (`linear`) and as int8 (per-channel scale) and fp8 (per-tensor scale) codes
 * (`quantizedLinear`), each compared with the f32 weight. Weight bytes: 4, 2, 1 and 1 per element.
 */
export function quantizedCases(scale: number): BenchCase[] {
  const [tokens, d] = [256 * scale, 256 * scale];
  const out = 4 * d;
  const reps = repeats(tokens, d, out);
  const flops = 2 * tokens * d * out * reps;
  let made:
    | { x: Tensor; f32: Tensor; bf16: Tensor; int8: [Tensor, Tensor | number]; fp8: [Tensor, Tensor | number] }
    | undefined;
  const operands = () => {
    if (!made) {
      // quantize() takes host values: deterministic weight-like values in [-0.05, 0.05].
      const values = new Float32Array(out * d);
      for (let i = 0; i < values.length; i++) values[i] = Math.sin(i * 12.9898) * 0.05;
      const int8 = quantize(values, [out, d], "int8");
      const fp8 = quantize(values, [out, d], "fp8");
      made = {
        x: randn([tokens, d], 1),
        f32: tensor(values, [out, d], "f32"),
        bf16: tensor(values, [out, d], "bf16"),
        int8: [int8.codes, int8.scale],
        fp8: [fp8.codes, fp8.scale],
      };
    }
    return made;
  };
  const label = `tokens ${tokens} × ${d} · ${out}`;
  const base = `${label} linear f32`;
  const common = { flops, iterations: 10, warmup: 2 };
  const task = (name: string, y: (o: ReturnType<typeof operands>) => Tensor, baseline?: string): BenchCase => ({
    name: `${label} ${name}`,
    run: () => {
      const o = operands();
      for (let i = 0; i < reps; i++) y(o).dispose();
    },
    ...(baseline ? { baseline } : {}),
    ...common,
  });
  return [
    task("linear f32", (o) => linear(o.x, o.f32)),
    task("linear bf16", (o) => linear(o.x, o.bf16), base),
    task("quantizedLinear int8", (o) => quantizedLinear(o.x, o.int8[0], o.int8[1]), base),
    task("quantizedLinear fp8", (o) => quantizedLinear(o.x, o.fp8[0], o.fp8[1]), base),
  ];
}
