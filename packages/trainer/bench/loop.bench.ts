import { LTX_TINY, LtxTransformer, loraTargets } from "@a2v/ltx-model";
import { MemoryWeights } from "@a2v/ltx-model/weights";
import { init, releaseGpu } from "@a2v/tensor-webgpu";
import { afterAll, beforeAll, bench, describe } from "vitest";
import { drawA2VStep, initialLora } from "../src/loop/draw.js";
import { trainLora } from "../src/loop/train-lora.js";
import { a2vStep } from "../src/strategy.js";
import { ShiftedLogitNormalSampler } from "../src/timestep-sampler.js";
import { tinyExample, tinyWeights } from "../test/loop/fixtures.js";

// Steps/s of the training loop on the tiny preset (2 layers, 32-wide video, 16-wide audio; 2×2×2 latent
// clip, 4 audio frames, rank 8, composed ops) against the forward pass alone and forward + backward alone,
// on one backend with the weights uploaded once. Each iteration runs STEPS steps.
const STEPS = 10;
const config = LTX_TINY;
const lora = { rank: 8, alpha: 8 };
const example = tinyExample(1, config);
const weights = tinyWeights(config);
const backend = new LtxTransformer({ fused: false });
const draws = Array.from({ length: STEPS }, (_, i) =>
  drawA2VStep(config, example, new ShiftedLogitNormalSampler(), 42, i),
);
const targets = loraTargets(config, { ...lora, targetModules: ["to_k", "to_q", "to_v", "to_out.0"] });
const active = { modules: new Set(targets.map((t) => t.module)), scale: 1 };
const seconds: Record<string, number[]> = {};
const timed = (name: string, fn: () => Promise<void>) => async () => {
  const start = performance.now();
  await fn();
  seconds[name] ??= [];
  seconds[name].push((performance.now() - start) / 1000 / STEPS);
};

beforeAll(async () => {
  await init();
  await backend.loadWeights(new MemoryWeights(weights), weights.keys());
  for (const [key, t] of initialLora(targets, lora.rank, 42))
    backend.addParameter(key, t.data, t.shape[0]!, t.shape[1]!);
});
afterAll(() => {
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  for (const [name, all] of Object.entries(seconds)) {
    const xs = all.slice(1); // the first run is the warm-up (pipeline compilation)
    const s = median(xs);
    console.log(`${name}: ${(s * 1000).toFixed(1)} ms/step, ${(1 / s).toFixed(2)} steps/s (median of ${xs.length})`);
  }
  backend.dispose();
  releaseGpu();
});

const options = { iterations: 5, warmupIterations: 1, time: 0, warmupTime: 0 };
describe(`tiny model, ${STEPS} steps per iteration (lavapipe)`, () => {
  bench(
    "forward only (baseline)",
    timed("forward only", async () => {
      for (const { step } of draws) await a2vStep(backend, config, step, { lora: active });
    }),
    options,
  );
  bench(
    "forward + backward",
    timed("forward + backward", async () => {
      for (const { step } of draws) {
        await a2vStep(backend, config, step, { lora: active, train: true });
        backend.zeroGrad();
      }
    }),
    options,
  );
  bench(
    "trainLora step (sample, forward, backward, AdamW)",
    timed("trainLora", async () => {
      await trainLora({ config, backend, lora, steps: STEPS, seed: 42, examples: [example] });
    }),
    options,
  );
});
