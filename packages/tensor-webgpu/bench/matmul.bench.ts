import { beforeAll, bench, describe } from "vitest";
import { init, randn, type Tensor } from "../src/index.js";
import { matmulRaw } from "../src/ops/matmul.js";
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

function gemm(label: string, m: number, k: number, n: number): void {
  const naive = `${label} naive`;
  const opts = { iterations: 10, warmupIterations: 2, time: 0, warmupTime: 0 };
  bench(
    naive,
    timed(naive, 2 * m * n * k, () => {
      const [a, b] = operands(m, k, n);
      matmulRaw(a, b, {}, "naive").dispose();
    }),
    opts,
  );
  bench(
    `${label} tiled`,
    timed(
      `${label} tiled`,
      2 * m * n * k,
      () => {
        const [a, b] = operands(m, k, n);
        matmulRaw(a, b).dispose();
      },
      naive,
    ),
    opts,
  );
}

describe("matmul f32 (SIMT)", () => {
  for (const n of squares) gemm(`${n}³`, n, n, n);
  gemm(`tokens ${tokens} × ${dModel} · ${dModel}`, tokens, dModel, dModel);
  gemm(`tokens ${tokens} × ${dModel} · ${4 * dModel}`, tokens, dModel, 4 * dModel);
  gemm(`LoRA down ${tokens} × ${dModel} · r${rank}`, tokens, dModel, rank);
});

reportAfterAll("matmul");
