import { afterAll, beforeAll, bench, describe } from "vitest";
import { init } from "../src/index.js";
import { convCases } from "./cases.js";
import { Recorder } from "./report.js";

// The tiny video VAE encoder's conv layers (see convCases); A2V_BENCH_FRAMES output frames (default 3),
// A2V_BENCH_TILED=1 adds the tiled implicit GEMM (one pipeline compiled per shape).
const recorder = new Recorder();
beforeAll(async () => {
  await init();
});

describe("conv3d f32", () => {
  const frames = Number(process.env.A2V_BENCH_FRAMES ?? 3);
  for (const c of convCases(frames, process.env.A2V_BENCH_TILED === "1")) {
    const options = { iterations: c.iterations, warmupIterations: c.warmup, time: 0, warmupTime: 0 };
    bench(c.name, recorder.timed(c.name, c.flops, c.run, c.baseline), options);
  }
});

afterAll(() => console.log(recorder.table("conv3d")));
