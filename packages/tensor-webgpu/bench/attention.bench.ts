import { beforeAll, bench, describe } from "vitest";
import { attention, backward, init, randn, sum, type Tensor } from "../src/index.js";
import { reportAfterAll, timed } from "./report.js";

// lavapipe-sized by default; A2V_BENCH_SCALE=8 on a GPU gives sequence 1k..8k (heads 32 with A2V_BENCH_HEADS).
const scale = Number(process.env.A2V_BENCH_SCALE ?? 1);
const heads = Number(process.env.A2V_BENCH_HEADS ?? 2);
const d = 128;

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
  if (grad) for (const x of t) x.requiresGrad = true;
  return t;
}

describe("attention f32 (fused, head dim 128)", () => {
  for (const l of [128 * scale, 256 * scale]) {
    const flops = 4 * heads * l * l * d;
    const opts = { iterations: 5, warmupIterations: 1, time: 0, warmupTime: 0 };
    bench(
      `forward L${l}`,
      timed(`forward L${l}`, flops, () => {
        const [q, k, v] = qkv(l, false);
        attention(q!, k!, v!).dispose();
      }),
      opts,
    );
    // Backward does ~2.5× the forward's FLOPs (recomputes P, then dV, dP, dQ, dK).
    bench(
      `forward+backward L${l}`,
      timed(`forward+backward L${l}`, 3.5 * flops, () => {
        const [q, k, v] = qkv(l, true);
        const loss = sum(attention(q!, k!, v!));
        backward(loss);
        loss.dispose();
        for (const x of [q, k, v]) {
          x!.grad?.dispose();
          x!.grad = undefined;
        }
      }),
      opts,
    );
  }
});

reportAfterAll("attention");
