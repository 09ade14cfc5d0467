import { afterAll, beforeAll, bench, describe } from "vitest";
import { init } from "../src/index.js";
import { attentionCases } from "./cases.js";
import { Recorder } from "./report.js";

// lavapipe-sized by default (L 128..1024); A2V_BENCH_SCALE=8 on a GPU gives the sequence 1k..8k
// (and A2V_BENCH_HEADS=32 its 32 heads).
const recorder = new Recorder();
beforeAll(async () => {
  await init();
});

describe("attention f32 (head dim 128)", () => {
  const cases = attentionCases(Number(process.env.A2V_BENCH_SCALE ?? 1), Number(process.env.A2V_BENCH_HEADS ?? 2));
  for (const c of cases) {
    const options = { iterations: c.iterations, warmupIterations: c.warmup, time: 0, warmupTime: 0 };
    bench(c.name, recorder.timed(c.name, c.flops, c.run, c.baseline), options);
  }
});

afterAll(() => console.log(recorder.table("attention")));
