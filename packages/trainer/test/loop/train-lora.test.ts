import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { A2VError } from "@a2v/errors";
import {
  DEFAULT_LORA_TARGETS,
  LtxTransformer,
  loadLoraFile,
  loraKeyA,
  loraKeyB,
  loraScale,
  loraTargets,
  transformerParameters,
} from "@a2v/ltx-model";
import { MemoryWeights, SafetensorsFile } from "@a2v/ltx-model/weights";
import { init, releaseGpu } from "@a2v/tensor-webgpu";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { drawA2VStep, initialLora } from "../../src/loop/draw.js";
import type { TrainingExample } from "../../src/loop/examples.js";
import type { TrainLoraOptions } from "../../src/loop/options.js";
import { checkpointPaths } from "../../src/loop/state.js";
import { trainLora } from "../../src/loop/train-lora.js";
import { a2vStep } from "../../src/strategy.js";
import { ShiftedLogitNormalSampler } from "../../src/timestep-sampler.js";
import { TINY, tinyExample, tinySource, tinyWeights } from "./fixtures.js";

// Composed ops (the fused RoPE/LoRA kernels are trained in ltx-model's GPU golden test). On a fresh shader cache, as
// in CI, the first step compiles ~200 pipelines: ~30 s on lavapipe (bench/first-step.bench.ts; docs/perf.md).
const gpu = { fused: false };
const base = (overrides: Partial<TrainLoraOptions>): TrainLoraOptions => ({
  config: TINY,
  weights: tinySource(),
  gpu,
  lora: { rank: 8, alpha: 16 },
  steps: 4,
  seed: 3,
  examples: [tinyExample(1), tinyExample(11)],
  ...overrides,
});

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "a2v-loop-"));
});
afterAll(async () => {
  releaseGpu();
  await rm(dir, { recursive: true, force: true });
});

describe("trainLora options", () => {
  async function rejection(options: TrainLoraOptions): Promise<A2VError> {
    const error = await trainLora(options).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(A2VError);
    return error as A2VError;
  }

  it("refuses steps < 1, no examples and shape mismatches (naming the example)", async () => {
    expect((await rejection(base({ steps: 0 }))).code).toBe("training_options_invalid");
    expect((await rejection(base({ examples: [] }))).code).toBe("training_no_examples");
    const bad = tinyExample(5);
    async function* stream(): AsyncGenerator<TrainingExample> {
      yield tinyExample(1);
      yield { ...bad, videoLatents: { shape: [64, 2, 2, 2], data: bad.videoLatents.data.subarray(0, 512) } };
    }
    const mismatch = await rejection(base({ examples: stream() }));
    expect(mismatch.code).toBe("training_example_invalid");
    expect(mismatch.message).toMatch(/training example 1: videoLatents has shape \[64,2,2,2\], expected \[128/);
    const context = await rejection(
      base({ examples: [{ ...bad, audioContext: { shape: [3, 7], data: new Float32Array(21) } }] }),
    );
    expect(context.message).toMatch(/training example 0: audioContext/);
  });
});

describe("trainLora on the tiny model (lavapipe)", () => {
  it("overfits one clip, changes only LoRA parameters, and starts from the base model", async () => {
    const source = tinyWeights();
    await init();
    const backend = new LtxTransformer(gpu);
    await backend.loadWeights(new MemoryWeights(source), source.keys());
    const example = tinyExample(21, TINY, true);
    const options = base({
      weights: undefined,
      backend,
      examples: [example],
      steps: 30,
      optimizer: { lr: 1e-2, schedule: "constant" },
    });
    const seen: number[] = [];
    const result = await trainLora({ ...options, onStep: (p) => void seen.push(p.step) });
    expect(seen).toEqual(Array.from({ length: 30 }, (_, i) => i + 1));
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    const first = mean(result.lossHistory.slice(0, 3));
    const last = mean(result.lossHistory.slice(-5));
    expect(last).toBeLessThan(0.7 * first);

    // Frozen weights on the GPU are bit-identical to the source; every LoRA tensor moved.
    for (const spec of transformerParameters(TINY)) {
      const onGpu = (await backend.weight(spec.key).toArray()) as Float32Array;
      expect(onGpu.subarray(0, source.get(spec.key)!.data.length), spec.key).toEqual(source.get(spec.key)!.data);
    }
    const targets = loraTargets(TINY, result.lora);
    const start = initialLora(targets, 8, 3);
    // The last block's video→audio attention only feeds the audio stream, which has no loss: its B gets no gradient.
    const audioOnly = /^transformer_blocks\.1\.video_to_audio_attn\..*lora_B/;
    for (const [key, t] of result.tensors) {
      if (audioOnly.test(key))
        expect(
          t.data.every((v) => v === 0),
          key,
        ).toBe(true);
      else expect(t.data, key).not.toEqual(start.get(key)!.data);
    }

    // Step 1's loss is the base model's: with B = 0 the adapted forward reproduces the base predictions.
    const { step } = drawA2VStep(TINY, example, new ShiftedLogitNormalSampler(), 3, 0);
    const plain = await a2vStep(backend, TINY, step);
    for (const [key, t] of start) backend.addParameter(key, t.data, t.shape[0]!, t.shape[1]!);
    const active = { modules: new Set(targets.map((t) => t.module)), scale: loraScale(result.lora) };
    const adapted = await a2vStep(backend, TINY, step, { lora: active });
    expect(adapted.video).toEqual(plain.video);
    expect(adapted.loss).toBe(plain.loss);
    expect(result.lossHistory[0]).toBe(plain.loss);
    backend.dispose();
  });

  it("is deterministic per seed", async () => {
    const a = await trainLora(base({}));
    const b = await trainLora(base({}));
    const other = await trainLora(base({ seed: 4 }));
    expect(b.lossHistory).toEqual(a.lossHistory);
    for (const [key, t] of a.tensors) expect(b.tensors.get(key)!.data, key).toEqual(t.data);
    expect(other.lossHistory).not.toEqual(a.lossHistory);
  });

  it("saves official LoRA files and resumes bit-for-bit (4 steps = 2 + crash + resume + 2)", async () => {
    const common = {
      gradientAccumulation: 2,
      optimizer: { lr: 5e-3, warmupSteps: 1, schedule: "linear" as const },
    };
    const straight = await trainLora(base({ ...common, checkpoints: { dir: join(dir, "straight"), every: 2 } }));
    expect(straight.checkpoints).toEqual([2, 4].map((s) => checkpointPaths(join(dir, "straight"), s).lora));

    const crashed = join(dir, "crashed");
    const crash = new Error("simulated crash");
    await expect(
      trainLora(
        base({
          ...common,
          checkpoints: { dir: crashed, every: 2 },
          onStep: ({ step }: { step: number }) => {
            if (step === 2) throw crash;
          },
        }),
      ),
    ).rejects.toBe(crash);
    const resumed = await trainLora(base({ ...common, resumeFrom: checkpointPaths(crashed, 2).state }));
    expect(resumed.lossHistory).toEqual(straight.lossHistory);
    for (const [key, t] of straight.tensors) expect(resumed.tensors.get(key)!.data, key).toEqual(t.data);

    // The LoRA file has the official keys and shapes, with alpha/rank folded into B.
    const path = straight.checkpoints[1]!;
    const file = await SafetensorsFile.open(path);
    const names = file.entries().map((e) => e.name);
    await file.close();
    const targets = loraTargets(TINY, { rank: 8, alpha: 16, targetModules: DEFAULT_LORA_TARGETS });
    expect(new Set(names)).toEqual(
      new Set(targets.flatMap((t) => [loraKeyA(t.module), loraKeyB(t.module)].map((k) => `diffusion_model.${k}`))),
    );
    const loaded = await loadLoraFile(path);
    expect(loaded).toMatchObject({ rank: 8, alpha: 16, folded: true, runtimeScale: 1 });
    for (const t of targets) {
      expect(loaded.tensors.get(loraKeyA(t.module))!.shape).toEqual([8, t.inDim]);
      const b = loaded.tensors.get(loraKeyB(t.module))!;
      expect(b.shape).toEqual([t.outDim, 8]);
      const trained = straight.tensors.get(loraKeyB(t.module))!.data;
      // bf16 keeps 8 significant bits.
      for (let i = 0; i < b.data.length; i++) expect(b.data[i]!).toBeCloseTo(2 * trained[i]!, 2);
    }
  });

  it("refuses a resume state from a run with other settings", async () => {
    const error = await trainLora(
      base({ seed: 9, gradientAccumulation: 2, resumeFrom: checkpointPaths(join(dir, "crashed"), 2).state }),
    ).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(A2VError);
    expect((error as A2VError).code).toBe("resume_state_mismatch");
  });
});
