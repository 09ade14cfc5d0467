import { readdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { A2VError } from "@a2v/errors";
import type { LoraConfig, LoraTensors } from "@a2v/ltx-model";
import { encodeFloats, SafetensorsFile, writeSafetensors } from "@a2v/ltx-model/weights";

/** Everything a run needs to continue bit-for-bit after `step` optimizer steps. */
export interface ResumeState {
  step: number;
  seed: number;
  gradientAccumulation: number;
  lora: LoraConfig;
  /** LoRA parameters in training convention (B not scaled), float32. */
  tensors: LoraTensors;
  /** AdamW first and second moments, packed in parameter order. */
  exp_avg: Float32Array;
  exp_avg_sq: Float32Array;
  lossHistory: number[];
  /** `TrainLoraOptions.fingerprint` of the run that wrote it ("" when none was given). */
  fingerprint: string;
}

const pad = (step: number) => String(step).padStart(5, "0");

/** The official trainer's checkpoint name, and the resume state saved beside it. */
export function checkpointPaths(dir: string, step: number): { lora: string; state: string } {
  return {
    lora: join(dir, `lora_weights_step_${pad(step)}.safetensors`),
    state: join(dir, `training_state_step_${pad(step)}.safetensors`),
  };
}

const STATE_FILE = /^training_state_step_(\d{5,})\.safetensors$/;

/** Steps of the complete checkpoints in `dir`, ascending (the state is written last, so it marks completion). */
export async function checkpointSteps(dir: string): Promise<number[]> {
  const names = await readdir(dir).catch(() => [] as string[]);
  return names
    .map((name) => STATE_FILE.exec(name)?.[1])
    .filter((step): step is string => step !== undefined)
    .map(Number)
    .sort((a, b) => a - b);
}

/** The newest complete checkpoint's resume state in `dir`, or undefined when there is none. */
export async function latestResumeState(dir: string): Promise<string | undefined> {
  const steps = await checkpointSteps(dir);
  return steps.length > 0 ? checkpointPaths(dir, steps[steps.length - 1]!).state : undefined;
}

/** Removes all but the newest `keep` checkpoints (LoRA file and state) in `dir`. */
export async function pruneCheckpoints(dir: string, keep: number): Promise<void> {
  const steps = await checkpointSteps(dir);
  for (const step of steps.slice(0, Math.max(0, steps.length - keep))) {
    const paths = checkpointPaths(dir, step);
    // State first: a LoRA file without its state is not a complete checkpoint, never the reverse.
    await rm(paths.state, { force: true });
    await rm(paths.lora, { force: true });
  }
}

const TENSOR_PREFIX = "lora.";

export async function saveResumeState(path: string, state: ResumeState): Promise<void> {
  const tensors = [...state.tensors].map(([key, t]) => ({
    name: TENSOR_PREFIX + key,
    dtype: "F32" as const,
    shape: [...t.shape],
    data: encodeFloats(t.data, "F32"),
  }));
  for (const name of ["exp_avg", "exp_avg_sq"] as const) {
    tensors.push({
      name: `optimizer.${name}`,
      dtype: "F32",
      shape: [state[name].length],
      data: encodeFloats(state[name], "F32"),
    });
  }
  await writeSafetensors(path, tensors, {
    step: String(state.step),
    seed: String(state.seed),
    gradient_accumulation: String(state.gradientAccumulation),
    lora: JSON.stringify(state.lora),
    loss_history: JSON.stringify(state.lossHistory),
    fingerprint: state.fingerprint,
  });
}

export async function loadResumeState(path: string): Promise<ResumeState> {
  const file = await SafetensorsFile.open(path);
  try {
    const meta = file.metadata;
    if (meta.step === undefined || meta.lora === undefined || meta.loss_history === undefined) {
      throw new A2VError("resume_state_invalid", `${path} is not a training state (no step/lora metadata)`, {
        status: 422,
      });
    }
    const tensors: LoraTensors = new Map();
    for (const entry of file.entries()) {
      if (entry.name.startsWith(TENSOR_PREFIX)) {
        tensors.set(entry.name.slice(TENSOR_PREFIX.length), {
          shape: entry.shape,
          data: await file.readFloat32(entry.name),
        });
      }
    }
    return {
      step: Number(meta.step),
      seed: Number(meta.seed),
      gradientAccumulation: Number(meta.gradient_accumulation),
      lora: JSON.parse(meta.lora) as LoraConfig,
      tensors,
      exp_avg: await file.readFloat32("optimizer.exp_avg"),
      exp_avg_sq: await file.readFloat32("optimizer.exp_avg_sq"),
      lossHistory: JSON.parse(meta.loss_history) as number[],
      fingerprint: meta.fingerprint ?? "",
    };
  } finally {
    await file.close();
  }
}
