import { afterAll, beforeAll, bench, describe } from "vitest";
import { init } from "../src/index.js";
import { matmulCases } from "./cases.js";
import { Recorder } from "./report.js";

// Shapes are sized for lavapipe; on a real GPU, A2V_BENCH_SCALE=8 gives the sizes (see cases.ts).
const recorder = new Recorder();
beforeAll(async () => {
  await init();
});

describe("matmul f32", () => {
  for (const c of matmulCases(Number(process.env.A2V_BENCH_SCALE ?? 1))) {
    const options = { iterations: c.iterations, warmupIterations: c.warmup, time: 0, warmupTime: 0 };
    bench(c.name, recorder.timed(c.name, c.flops, c.run, c.baseline), options);
  }
});

afterAll(() => console.log(recorder.table("matmul")));
