import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  type ActiveLora,
  ensureTinyModel,
  type LtxModel,
  LtxTransformer,
  loraTargets,
  numel,
  openLtxModel,
  transformerParameters,
} from "@a2v/ltx-model";
import { init, releaseGpu } from "@a2v/tensor-webgpu";
import { afterAll, beforeAll, bench, describe } from "vitest";
import { drawA2VStep, initialLora } from "../src/loop/draw.js";
import type { TrainingExample } from "../src/loop/examples.js";
import { createRng } from "../src/random.js";
import { a2vStep, a2vStepLoss } from "../src/strategy.js";
import { ShiftedLogitNormalSampler } from "../src/timestep-sampler.js";

// The demo job's training step on the embedded tiny model: 512×288, 25 frames (4×9×16 = 576 video tokens),
// 26 audio tokens, 1024-token contexts, rank 32. Baseline: the step as it was before `train()` (composed ops, the
// predictions read back to the host); against it the loss-only read back, and the fused kernels with each.
const STEPS = 5;
let dir = "";
let model: LtxModel;
const backends = new Map<string, LtxTransformer>();
let draws: ReturnType<typeof drawA2VStep>[] = [];
let active: ActiveLora;
const seconds: Record<string, number[]> = {};

function example(): TrainingExample {
  const rng = createRng(3);
  const gaussian = (shape: number[]) => ({ shape, data: rng.fillNormal(new Float32Array(numel(shape))) });
  return {
    videoLatents: gaussian([8, 4, 9, 16]),
    audioLatents: gaussian([8, 26, 16]),
    videoContext: gaussian([1024, 32]),
    audioContext: gaussian([1024, 16]),
    fps: 24,
  };
}

beforeAll(async () => {
  await init();
  dir = await mkdtemp(join(tmpdir(), "a2v-bench-"));
  model = await openLtxModel(await ensureTinyModel(dir));
  const keys = transformerParameters(model.transformer).map((p) => p.key);
  const targets = loraTargets(model.transformer, {
    rank: 32,
    alpha: 32,
    targetModules: ["to_k", "to_q", "to_v", "to_out.0"],
  });
  active = { modules: new Set(targets.map((t) => t.module)), scale: 1 };
  const ex = example();
  draws = Array.from({ length: STEPS }, (_, i) =>
    drawA2VStep(model.transformer, ex, new ShiftedLogitNormalSampler(), 42, i),
  );
  for (const fused of [false, true]) {
    const backend = new LtxTransformer({ fused });
    await backend.loadWeights(model.transformerWeights, keys);
    for (const [key, t] of initialLora(targets, 32, 42)) backend.addParameter(key, t.data, t.shape[0]!, t.shape[1]!);
    backends.set(fused ? "fused" : "composed", backend);
  }
});
afterAll(async () => {
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const base = median(seconds["composed, predictions read back"]!.slice(1));
  console.log("| step (demo size, lavapipe) | ms/step | ratio to baseline |\n|---|---|---|");
  for (const [name, all] of Object.entries(seconds)) {
    const s = median(all.slice(1)); // the first iteration compiles the pipelines
    console.log(`| ${name} | ${(s * 1000).toFixed(0)} | ${(base / s).toFixed(2)}× |`);
  }
  for (const b of backends.values()) b.dispose();
  await model.close();
  releaseGpu();
  await rm(dir, { recursive: true, force: true });
});

const options = { iterations: 4, warmupIterations: 0, time: 0, warmupTime: 0 };
describe(`demo training step, ${STEPS} steps per iteration`, () => {
  for (const kernels of ["composed", "fused"] as const) {
    for (const readBack of ["predictions read back", "loss read back"] as const) {
      const name = `${kernels}, ${readBack}`;
      bench(
        name,
        async () => {
          const backend = backends.get(kernels)!;
          const start = performance.now();
          for (const { step } of draws) {
            const options = { lora: active, train: true };
            if (readBack === "loss read back") await a2vStepLoss(backend, model.transformer, step, options);
            else await a2vStep(backend, model.transformer, step, options);
            backend.zeroGrad();
          }
          seconds[name] ??= [];
          seconds[name].push((performance.now() - start) / 1000 / STEPS);
        },
        options,
      );
    }
  }
});
