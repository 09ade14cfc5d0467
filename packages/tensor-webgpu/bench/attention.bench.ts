import { beforeAll, bench, describe } from "vitest";
import {
  type AttentionOptions,
  attention,
  backward,
  init,
  randn,
  softmax,
  sum,
  type Tensor,
  transpose,
} from "../src/index.js";
import { matmulRaw, type TileConfig } from "../src/ops/matmul.js";
import { reportAfterAll, timed } from "./report.js";

// lavapipe-sized by default (L 128..1024); A2V_BENCH_SCALE=8 on a GPU gives the sequence 1k..8k
// (and A2V_BENCH_HEADS=32 its 32 heads).
const scale = Number(process.env.A2V_BENCH_SCALE ?? 1);
const heads = Number(process.env.A2V_BENCH_HEADS ?? 2);
const d = 128;
/** The baseline's GEMMs: the plain register-tiled kernel fixed to 64×64 tiles (as in matmul.bench.ts). */
const TILE_64: TileConfig = { bm: 64, bn: 64, bk: 8, tm: 8, tn: 8 };

const cache = new Map<number, Tensor[]>();
beforeAll(async () => {
  await init();
});

function qkv(l: number, grad: boolean): Tensor[] {
  let t = cache.get(l);
  if (!t) {
    t = [1, 2, 3].map((s) => randn([1, heads, l, d], s));
    cache.set(l, t);
  }
  for (const x of t) x.requiresGrad = grad;
  return t;
}

/** Baseline: softmax(q·kᵀ/√d)·v with both products on the 64×64-tile kernel, forward only. */
function naiveTiled(q: Tensor, k: Tensor, v: Tensor): void {
  const kt = transpose(k);
  const s = matmulRaw(q, kt, { alpha: 1 / Math.sqrt(d) }, "tiled", TILE_64);
  const p = softmax(s);
  matmulRaw(p, v, {}, "tiled", TILE_64).dispose();
  for (const t of [kt, s, p]) t.dispose();
}

describe("attention f32 (head dim 128)", () => {
  for (const l of [128, 256, 512, 1024].map((n) => n * scale)) {
    const flops = 4 * heads * l * l * d;
    const opts = { iterations: 5, warmupIterations: 1, time: 0, warmupTime: 0 };
    const base = `forward L${l} naive tiled`;
    bench(
      base,
      timed(base, flops, () => {
        const [q, k, v] = qkv(l, false);
        naiveTiled(q!, k!, v!);
      }),
      opts,
    );
    const kernels: Array<NonNullable<AttentionOptions["kernel"]>> = ["fused", "materialized"];
    for (const kernel of kernels) {
      bench(
        `forward L${l} ${kernel}`,
        timed(
          `forward L${l} ${kernel}`,
          flops,
          () => {
            const [q, k, v] = qkv(l, false);
            attention(q!, k!, v!, { kernel }).dispose();
          },
          base,
        ),
        opts,
      );
    }
    // Backward does ~2.5× the forward's FLOPs (recomputes P, then dV, dP, dQ, dK); compared with fused.
    for (const kernel of kernels) {
      const name = `forward+backward L${l} ${kernel}`;
      bench(
        name,
        timed(
          name,
          3.5 * flops,
          () => {
            const [q, k, v] = qkv(l, true);
            const loss = sum(attention(q!, k!, v!, { kernel }));
            backward(loss);
            loss.dispose();
            for (const x of [q, k, v]) {
              x!.grad?.dispose();
              x!.grad = undefined;
            }
          },
          kernel === "fused" ? undefined : `forward+backward L${l} fused`,
        ),
        opts,
      );
    }
  }
});

reportAfterAll("attention");
