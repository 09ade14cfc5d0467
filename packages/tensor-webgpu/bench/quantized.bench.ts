import { afterAll, beforeAll, bench, describe } from "vitest";
import { init } from "../src/index.js";
import { quantizedCases } from "./cases.js";
import { Recorder } from "./report.js";

// quantizedLinear (int8 / fp8 codes read packed) against linear with f32 and bf16 weights at one transformer-like
// shape; lavapipe-sized by default, A2V_BENCH_SCALE=8 on a GPU gives tokens 2048 × 2048 · 8192.
const recorder = new Recorder();
beforeAll(async () => {
  await init();
});

describe("quantized linear", () => {
  for (const c of quantizedCases(Number(process.env.A2V_BENCH_SCALE ?? 1))) {
    const options = { iterations: c.iterations, warmupIterations: c.warmup, time: 0, warmupTime: 0 };
    bench(c.name, recorder.timed(c.name, c.flops, c.run, c.baseline), options);
  }
});

afterAll(() => console.log(recorder.table("quantized")));
