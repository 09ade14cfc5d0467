import { existsSync } from "node:fs";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { A2VError } from "@a2v/errors";
import { MemoryWeights } from "@a2v/ltx-model/weights";
import { releaseGpu } from "@a2v/tensor-webgpu";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { TrainLoraOptions } from "../../src/loop/options.js";
import { checkpointPaths, latestResumeState, loadResumeState } from "../../src/loop/state.js";
import { trainLora } from "../../src/loop/train-lora.js";
import { TINY, tinyExample, tinySource, tinyWeights } from "./fixtures.js";

const base = (overrides: Partial<TrainLoraOptions>): TrainLoraOptions => ({
  config: TINY,
  weights: tinySource(),
  gpu: { fused: false },
  lora: { rank: 4, alpha: 4 },
  steps: 6,
  seed: 5,
  examples: [tinyExample(1)],
  ...overrides,
});

async function failure(promise: Promise<unknown>): Promise<A2VError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(A2VError);
  return error as A2VError;
}

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "a2v-stop-"));
});
afterAll(async () => {
  releaseGpu();
  await rm(dir, { recursive: true, force: true });
});

describe("trainLora stops cleanly", () => {
  it("on abort: at the next step boundary, after a checkpoint of the last complete step", async () => {
    const controller = new AbortController();
    const checkpoints = { dir: join(dir, "abort"), every: 10 };
    const error = await failure(
      trainLora(
        base({
          checkpoints,
          signal: controller.signal,
          onStep: (p) => {
            if (p.step === 3) controller.abort();
          },
        }),
      ),
    );
    expect(error.code).toBe("aborted");
    expect(error.message).toContain("step 3 of 6");
    expect(await latestResumeState(checkpoints.dir)).toBe(checkpointPaths(checkpoints.dir, 3).state);
    expect((await loadResumeState(checkpointPaths(checkpoints.dir, 3).state)).lossHistory).toHaveLength(3);
  });

  it("keeps only the newest checkpoints when asked", async () => {
    const checkpoints = { dir: join(dir, "keep"), every: 1, keep: 2 };
    await trainLora(base({ checkpoints }));
    expect((await readdir(checkpoints.dir)).sort()).toEqual([
      "lora_weights_step_00005.safetensors",
      "lora_weights_step_00006.safetensors",
      "training_state_step_00005.safetensors",
      "training_state_step_00006.safetensors",
    ]);
  });

  it("on a NaN loss: names the step, applies no update and keeps the last good checkpoint", async () => {
    const weights = tinyWeights();
    const key = "transformer_blocks.1.ff.net.2.weight";
    weights.get(key)!.data[0] = Number.NaN;
    const checkpoints = { dir: join(dir, "nan"), every: 1 };
    const error = await failure(trainLora(base({ weights: new MemoryWeights(weights), checkpoints })));
    expect(error.code).toBe("training_diverged");
    expect(error.message).toContain("at step 1");
    expect(existsSync(checkpoints.dir)).toBe(false);
  });

  it("refuses a resume state written for another input fingerprint", async () => {
    const checkpoints = { dir: join(dir, "fingerprint"), every: 6 };
    await trainLora(base({ checkpoints, fingerprint: "dataset A" }));
    const resumeFrom = checkpointPaths(checkpoints.dir, 6).state;
    const error = await failure(trainLora(base({ resumeFrom, fingerprint: "dataset B" })));
    expect(error.code).toBe("resume_state_mismatch");
  });
});
