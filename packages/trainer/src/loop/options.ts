import { A2VError } from "@a2v/errors";
import {
  DEFAULT_LORA,
  type LoraConfig,
  type LtxTransformer,
  type LtxTransformerConfig,
  type LtxTransformerOptions,
} from "@a2v/ltx-model";
import type { WeightSource } from "@a2v/ltx-model/weights";
import type { TimestepSamplerOptions } from "../timestep-sampler.js";
import type { ExampleSource } from "./examples.js";

export interface OptimizerSettings {
  /** Peak learning rate (default 2e-4, the a2v trainer's). */
  lr?: number;
  beta1?: number;
  beta2?: number;
  eps?: number;
  /** Decoupled weight decay (default 0.01, PyTorch AdamW's). */
  weightDecay?: number;
  /** Global gradient-norm clip (default 1.0). */
  maxGradNorm?: number;
  /** Decay after warmup: linear to 0 at the last step (default) or constant. */
  schedule?: "linear" | "constant";
  warmupSteps?: number;
}

export interface StepProgress {
  /** 1-based number of the optimizer step just taken. */
  step: number;
  /** Masked video MSE before the update, averaged over the accumulated examples. */
  loss: number;
  /** Learning rate the update used. */
  lr: number;
  /** σ of each accumulated example. */
  sigma: number[];
  /** Wall time of the step (including its checkpoint). */
  seconds: number;
  /** The LoRA file of the checkpoint saved after this step, if one was. */
  checkpoint?: string;
}

export interface CheckpointSettings {
  /** Folder for `lora_weights_step_NNNNN.safetensors` and `training_state_step_NNNNN.safetensors`. */
  dir: string;
  /** Save after every `every` steps (and after the last). */
  every: number;
  /** Element type of the LoRA file (default BF16, as the official trainer); the resume state is always F32. */
  dtype?: "BF16" | "F32";
  /** How many of the newest checkpoints to keep (default: all). */
  keep?: number;
}

export interface EvaluationSettings {
  /** σ values each example is evaluated at, with one fixed noise draw per (example, σ). */
  sigmas: number[];
}

export interface TrainLoraOptions {
  config: LtxTransformerConfig;
  /** Base (frozen) transformer weights; uploaded to a fresh GPU backend owned by the run. */
  weights?: WeightSource;
  /** Or a backend that already holds them (reused across runs, not disposed; its LoRA parameters are replaced). */
  backend?: LtxTransformer;
  /** GPU options for a backend created from `weights` (e.g. `fused: false` for the composed-op path). */
  gpu?: LtxTransformerOptions;
  /** Default rank 32, alpha 32, targets to_k/to_q/to_v/to_out.0. */
  lora?: Partial<LoraConfig>;
  optimizer?: OptimizerSettings;
  steps: number;
  seed?: number;
  /** Examples per optimizer step (default 1); their gradients are averaged. */
  gradientAccumulation?: number;
  examples: ExampleSource;
  timestepSampler?: TimestepSamplerOptions;
  gradientCheckpointing?: boolean | "sublayers";
  checkpoints?: CheckpointSettings;
  /** A `training_state_step_NNNNN.safetensors` written by an earlier run with the same settings. */
  resumeFrom?: string;
  /**
   * Identifies the run's inputs beyond the settings checked here (data, model): stored in every resume state, and a
   * state with another fingerprint is refused.
   */
  fingerprint?: string;
  /** Stops the run at the next step boundary, after saving a checkpoint (`A2VError` code `aborted`). */
  signal?: AbortSignal;
  /**
   * Loss over a fixed evaluation set (every example at fixed σ and noise, no update) before the first step and after
   * the last: `evaluation.before` is the base model's (the LoRA starts at zero), `after` the trained one's.
   */
  evaluation?: EvaluationSettings;
  onStep?: (progress: StepProgress) => void | Promise<void>;
}

/** Options with every default applied. */
export interface ResolvedOptions {
  lora: LoraConfig;
  optimizer: Required<OptimizerSettings>;
  steps: number;
  seed: number;
  gradientAccumulation: number;
}

function invalid(message: string): A2VError {
  return new A2VError("training_options_invalid", message, {
    status: 422,
    details: [{ code: "training_options_invalid", message }],
  });
}

const positiveInteger = (v: number) => Number.isInteger(v) && v >= 1;

export function resolveOptions(options: TrainLoraOptions): ResolvedOptions {
  if (!positiveInteger(options.steps)) throw invalid(`steps must be an integer ≥ 1, got ${options.steps}`);
  const gradientAccumulation = options.gradientAccumulation ?? 1;
  if (!positiveInteger(gradientAccumulation)) {
    throw invalid(`gradientAccumulation must be an integer ≥ 1, got ${gradientAccumulation}`);
  }
  const seed = options.seed ?? 42;
  if (!Number.isInteger(seed)) throw invalid(`seed must be an integer, got ${seed}`);
  if (!options.weights === !options.backend) throw invalid("give exactly one of weights and backend");
  const lora = { ...DEFAULT_LORA, ...options.lora };
  if (!(lora.alpha > 0)) throw invalid(`LoRA alpha must be positive, got ${lora.alpha}`);
  const o = options.optimizer ?? {};
  const optimizer: Required<OptimizerSettings> = {
    lr: o.lr ?? 2e-4,
    beta1: o.beta1 ?? 0.9,
    beta2: o.beta2 ?? 0.999,
    eps: o.eps ?? 1e-8,
    weightDecay: o.weightDecay ?? 0.01,
    maxGradNorm: o.maxGradNorm ?? 1,
    schedule: o.schedule ?? "linear",
    warmupSteps: o.warmupSteps ?? 0,
  };
  if (!(optimizer.lr > 0)) throw invalid(`lr must be positive, got ${optimizer.lr}`);
  if (!(optimizer.beta1 >= 0 && optimizer.beta1 < 1 && optimizer.beta2 >= 0 && optimizer.beta2 < 1)) {
    throw invalid(`AdamW betas must lie in [0, 1), got ${optimizer.beta1}, ${optimizer.beta2}`);
  }
  if (!(optimizer.maxGradNorm > 0)) throw invalid(`maxGradNorm must be positive, got ${optimizer.maxGradNorm}`);
  if (!(Number.isInteger(optimizer.warmupSteps) && optimizer.warmupSteps >= 0)) {
    throw invalid(`warmupSteps must be an integer ≥ 0, got ${optimizer.warmupSteps}`);
  }
  if (options.checkpoints && !positiveInteger(options.checkpoints.every)) {
    throw invalid(`checkpoints.every must be an integer ≥ 1, got ${options.checkpoints.every}`);
  }
  if (options.checkpoints?.keep !== undefined && !positiveInteger(options.checkpoints.keep)) {
    throw invalid(`checkpoints.keep must be an integer ≥ 1, got ${options.checkpoints.keep}`);
  }
  if (options.evaluation && !options.evaluation.sigmas.every((s) => s > 0 && s <= 1)) {
    throw invalid(`evaluation σ values must lie in (0, 1], got ${options.evaluation.sigmas}`);
  }
  return { lora, optimizer, steps: options.steps, seed, gradientAccumulation };
}
