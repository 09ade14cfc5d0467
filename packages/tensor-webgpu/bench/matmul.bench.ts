import { beforeAll, bench, describe } from "vitest";
import { init, randn, type Tensor } from "../src/index.js";
import { type MatmulVariant, matmulRaw, type TileConfig } from "../src/ops/matmul.js";
import { reportAfterAll, timed } from "./report.js";

// Shapes are sized for lavapipe (~1 GFLOP/s on a shared 2-core box). On a real GPU set A2V_BENCH_SCALE=8
// to get the 256..4096 squares and transformer-sized GEMMs.
const scale = Number(process.env.A2V_BENCH_SCALE ?? 1);
const squares = [128, 256, 512].map((n) => n * scale);
// Transformer shapes scaled down by 16: tokens × d_model · d_model × {d_model, 4·d_model}, and LoRA rank 32.
const tokens = 256 * scale;
const dModel = 256 * scale;
const rank = 32;

const inputs = new Map<string, [Tensor, Tensor]>();
beforeAll(async () => {
  await init();
});

function operands(m: number, k: number, n: number): [Tensor, Tensor] {
  const key = `${m}x${k}x${n}`;
  let pair = inputs.get(key);
  if (!pair) {
    pair = [randn([m, k], 1), randn([k, n], 2)];
    inputs.set(key, pair);
  }
  return pair;
}

/** The baseline: the plain register-tiled kernel fixed to 64×64 tiles (no tensor cores). */
const TILE_64: TileConfig = { bm: 64, bn: 64, bk: 8, tm: 8, tn: 8 };

/**
 * Products queued per timed iteration, so that each iteration does at least ~64 MFLOP: a lone small
 * product would time the submit-to-completion latency (~0.3 ms on lavapipe), not the kernel, while a
 * training step queues hundreds of products back to back.
 */
function repeats(m: number, k: number, n: number): number {
  return Math.max(1, Math.ceil(2 ** 26 / (2 * m * n * k)));
}

function gemm(label: string, m: number, k: number, n: number): void {
  const base = `${label} 64×64 tiles`;
  const opts = { iterations: 10, warmupIterations: 2, time: 0, warmupTime: 0 };
  const reps = repeats(m, k, n);
  const flops = 2 * m * n * k * reps;
  const run = (variant: MatmulVariant, tile?: TileConfig) => () => {
    const [a, b] = operands(m, k, n);
    for (let i = 0; i < reps; i++) matmulRaw(a, b, {}, variant, tile).dispose();
  };
  bench(base, timed(base, flops, run("tiled", TILE_64)), opts);
  bench(`${label} naive`, timed(`${label} naive`, flops, run("naive"), base), opts);
  // The SIMT kernel with the tile this shape gets (the "SIMT f32" figure on a GPU).
  bench(`${label} tiled`, timed(`${label} tiled`, flops, run("tiled"), base), opts);
  // What matmul() runs on this adapter: packed panels on lavapipe, tiled or tensor cores on a GPU.
  bench(`${label} auto`, timed(`${label} auto`, flops, run("auto"), base), opts);
}

describe("matmul f32", () => {
  for (const n of squares) gemm(`${n}³`, n, n, n);
  gemm(`tokens ${tokens} × ${dModel} · ${dModel}`, tokens, dModel, dModel);
  gemm(`tokens ${tokens} × ${dModel} · ${4 * dModel}`, tokens, dModel, 4 * dModel);
  // LoRA rank 32: down- and up-projection forward, and the two weight gradients (K = tokens).
  gemm(`LoRA down ${tokens} × ${dModel} · r${rank}`, tokens, dModel, rank);
  gemm(`LoRA up ${tokens} × r${rank} · ${dModel}`, tokens, rank, dModel);
  gemm(`LoRA dA r${rank} × ${tokens} · ${dModel}`, rank, tokens, dModel);
  gemm(`LoRA dB ${dModel} × ${tokens} · r${rank}`, dModel, tokens, rank);
});

reportAfterAll("matmul");
