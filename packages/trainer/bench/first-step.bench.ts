import { rt } from "@a2v/tensor-webgpu";
import { afterAll, bench, describe } from "vitest";
import { trainLora } from "../src/loop/train-lora.js";
import { TINY, tinyExample, tinySource } from "../test/loop/fixtures.js";

// Pipeline-compile time of the tiny training step (the trainer tests' model: TINY, LoRA r8, one 2×2×2 clip):
// the first trainLora step of a process compiles every pipeline the step needs, later steps reuse them. Run it
// once with an empty shader cache (cold) and once more with the same cache (warm):
//   export MESA_SHADER_CACHE_DIR=$(mktemp -d)
//   pnpm exec vitest bench --run bench/first-step.bench.ts   # cold
//   pnpm exec vitest bench --run bench/first-step.bench.ts   # warm
// Compile time ≈ first step − a later step. Composed ops first, then the fused kernels (each compiles its own).
const lines: string[] = [];

async function firstStep(fused: boolean): Promise<void> {
  const pipelines = () => rt().stats.pipelines;
  let start = performance.now();
  let before = 0;
  const stepMs: number[] = [];
  await trainLora({
    config: TINY,
    weights: tinySource(),
    gpu: { fused },
    lora: { rank: 8, alpha: 16 },
    steps: 4,
    seed: 3,
    examples: [tinyExample(1)],
    onStep: () => {
      stepMs.push(performance.now() - start);
      start = performance.now();
      if (stepMs.length === 1) before = pipelines();
    },
  });
  const steady = Math.min(...stepMs.slice(1));
  lines.push(
    `${fused ? "fused" : "composed"}: first step ${(stepMs[0]! / 1000).toFixed(2)} s (${before} pipelines so far), ` +
      `later steps ${steady.toFixed(0)} ms, compile ≈ ${((stepMs[0]! - steady) / 1000).toFixed(2)} s; ` +
      `cache ${process.env.MESA_SHADER_CACHE_DIR ?? "(default)"}`,
  );
}

afterAll(() => {
  for (const line of lines) console.log(line);
});

describe("tiny training step: first step (pipeline compilation) vs later steps", () => {
  const once = { iterations: 1, warmupIterations: 0, time: 0, warmupTime: 0 };
  bench("composed ops", () => firstStep(false), once);
  bench("fused kernels", () => firstStep(true), once);
});
