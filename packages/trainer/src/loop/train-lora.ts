import { mkdir } from "node:fs/promises";
import { A2VError } from "@a2v/errors";
import {
  type ActiveLora,
  type LoraConfig,
  type LoraTensors,
  LtxTransformer,
  type LtxTransformerConfig,
  loraScale,
  loraTargets,
  saveLoraFile,
  transformerParameters,
} from "@a2v/ltx-model";
import { AdamW, init, keep, learningRate, mul, scope, type Tensor } from "@a2v/tensor-webgpu";
import { a2vStepLoss } from "../strategy.js";
import { ShiftedLogitNormalSampler } from "../timestep-sampler.js";
import { drawA2VStep, evaluationDraw, exampleIndex, initialLora } from "./draw.js";
import { collectExamples, type TrainingExample } from "./examples.js";
import { resolveOptions, type TrainLoraOptions } from "./options.js";
import { checkpointPaths, loadResumeState, pruneCheckpoints, type ResumeState, saveResumeState } from "./state.js";

export interface TrainLoraResult {
  /** Trained LoRA in training convention (B not scaled; `saveLoraFile` folds alpha/rank). */
  tensors: LoraTensors;
  lora: LoraConfig;
  /** Loss of every optimizer step from step 1 (a resumed run includes the earlier ones). */
  lossHistory: number[];
  /** LoRA files written, in order. */
  checkpoints: string[];
  /** Loss over the fixed evaluation set before training (base model) and after, when `evaluation` was given. */
  evaluation?: { before: number; after: number };
}

function resumeMismatch(path: string, what: string): A2VError {
  return new A2VError("resume_state_mismatch", `${path}: ${what} differs from this run's`, { status: 422 });
}

function checkResume(
  path: string,
  state: ResumeState,
  seed: number,
  accumulation: number,
  lora: LoraConfig,
  steps: number,
  fingerprint: string,
) {
  if (state.fingerprint !== fingerprint) throw resumeMismatch(path, "input (data, model or settings)");
  if (state.seed !== seed) throw resumeMismatch(path, "seed");
  if (state.gradientAccumulation !== accumulation) throw resumeMismatch(path, "gradientAccumulation");
  if (JSON.stringify(state.lora) !== JSON.stringify(lora)) throw resumeMismatch(path, "LoRA configuration");
  if (state.step > steps) {
    throw new A2VError(
      "resume_state_mismatch",
      `${path}: the state is at step ${state.step}, past this run's ${steps} steps`,
      {
        status: 422,
      },
    );
  }
}

async function download(params: Map<string, Tensor>): Promise<LoraTensors> {
  const out: LoraTensors = new Map();
  for (const [key, p] of params) out.set(key, { shape: [...p.shape], data: (await p.toArray()) as Float32Array });
  return out;
}

/** Averages accumulated gradients, so the update does not depend on how many examples were summed. */
function scaleGrads(params: Iterable<Tensor>, factor: number): void {
  scope(() => {
    for (const p of params) {
      if (!p.grad) continue;
      const scaled = keep(mul(p.grad, factor));
      p.grad.dispose();
      p.grad = scaled;
    }
  });
}

/** Writes moments saved by an earlier run into the optimizer's (zero-filled) moments. */
function restoreMoments(optimizer: AdamW, state: ResumeState): void {
  for (const [t, data] of [
    [optimizer.m, state.exp_avg],
    [optimizer.v, state.exp_avg_sq],
  ] as const) {
    if (data.length !== t.size) {
      throw new A2VError(
        "resume_state_invalid",
        `optimizer moments hold ${data.length} values, the LoRA has ${t.size}`,
      );
    }
    t.write(data);
  }
  optimizer.steps = state.step;
}

/** Mean loss of every example at every σ, each with its own fixed noise; forward only, nothing recorded. */
async function evaluationLoss(
  backend: LtxTransformer,
  config: LtxTransformerConfig,
  examples: readonly TrainingExample[],
  sigmas: readonly number[],
  seed: number,
  options: { lora: ActiveLora; gradientCheckpointing?: boolean | "sublayers" },
): Promise<number> {
  let sum = 0;
  for (let e = 0; e < examples.length; e++) {
    for (let k = 0; k < sigmas.length; k++) {
      const step = evaluationDraw(config, examples[e]!, sigmas[k]!, seed, e * sigmas.length + k);
      sum += await a2vStepLoss(backend, config, step, options);
    }
  }
  return sum / (examples.length * sigmas.length);
}

/**
 * Flow-matching LoRA training for audio-to-video: per optimizer step, `gradientAccumulation` seeded draws of
 * (example, σ, noise), GPU forward + masked loss + backward into LoRA A/B, then one AdamW update of the LoRA
 * parameters only. Checkpoints are official LoRA files plus a resume state from which a run continues bit-for-bit.
 */
export async function trainLora(options: TrainLoraOptions): Promise<TrainLoraResult> {
  const { config } = options;
  const { lora, optimizer: opt, steps, seed, gradientAccumulation } = resolveOptions(options);
  const examples = await collectExamples(config, options.examples);
  const resume = options.resumeFrom ? await loadResumeState(options.resumeFrom) : undefined;
  const fingerprint = options.fingerprint ?? "";
  if (resume) checkResume(options.resumeFrom!, resume, seed, gradientAccumulation, lora, steps, fingerprint);
  const targets = loraTargets(config, lora);
  await init();

  const backend = options.backend ?? new LtxTransformer(options.gpu);
  const params = new Map<string, Tensor>();
  let optimizer: AdamW | undefined;
  try {
    if (options.weights) {
      await backend.loadWeights(
        options.weights,
        transformerParameters(config).map((p) => p.key),
      );
    }
    // Registration order fixes the optimizer's packing, so a resumed run follows the targets' order as well.
    for (const [key, fresh] of initialLora(targets, lora.rank, seed)) {
      const t = resume ? resume.tensors.get(key) : fresh;
      if (!t)
        throw new A2VError("resume_state_invalid", `${options.resumeFrom}: no LoRA tensor ${key}`, { status: 422 });
      params.set(key, backend.addParameter(key, t.data, t.shape[0]!, t.shape[1]!));
    }
    backend.zeroGrad();
    optimizer = new AdamW([...params.values()], {
      lr: opt.lr,
      beta1: opt.beta1,
      beta2: opt.beta2,
      eps: opt.eps,
      weightDecay: opt.weightDecay,
      maxGradNorm: opt.maxGradNorm,
    });
    if (resume) restoreMoments(optimizer, resume);

    const active: ActiveLora = { modules: new Set(targets.map((t) => t.module)), scale: loraScale(lora) };
    const sampler = new ShiftedLogitNormalSampler(options.timestepSampler);
    const schedule = { kind: opt.schedule, lr: opt.lr, warmupSteps: opt.warmupSteps, totalSteps: steps };
    const lossHistory = [...(resume?.lossHistory ?? [])];
    const checkpoints: string[] = [];
    const stepOptions = { lora: active, gradientCheckpointing: options.gradientCheckpointing };
    const evaluate = async () =>
      options.evaluation ? evaluationLoss(backend, config, examples, options.evaluation.sigmas, seed, stepOptions) : 0;
    const before = await evaluate();
    const save = async (step: number) => {
      if (!options.checkpoints) return;
      const { dir, dtype, keep } = options.checkpoints;
      const paths = checkpointPaths(dir, step);
      const tensors = await download(params);
      await mkdir(dir, { recursive: true });
      await saveLoraFile(paths.lora, tensors, lora, { dtype, metadata: { step: String(step) } });
      await saveResumeState(paths.state, {
        step,
        seed,
        gradientAccumulation,
        lora,
        tensors,
        exp_avg: (await optimizer!.m.toArray()) as Float32Array,
        exp_avg_sq: (await optimizer!.v.toArray()) as Float32Array,
        lossHistory,
        fingerprint,
      });
      checkpoints.push(paths.lora);
      if (keep !== undefined) await pruneCheckpoints(dir, keep);
    };
    for (let s = resume?.step ?? 0; s < steps; s++) {
      if (options.signal?.aborted) {
        // Stopped before this step: the state after step s is saved unless the last checkpoint already holds it.
        if (s > (resume?.step ?? 0) && !(options.checkpoints && s % options.checkpoints.every === 0)) await save(s);
        throw new A2VError("aborted", `training stopped at step ${s} of ${steps}; resume continues from there`, {
          status: 499,
          details: [{ code: "aborted", message: `last complete step ${s}` }],
        });
      }
      const started = performance.now();
      let lossSum = 0;
      const sigma: number[] = [];
      for (let k = 0; k < gradientAccumulation; k++) {
        const draw = s * gradientAccumulation + k;
        const example = examples[exampleIndex(seed, draw, examples.length)]!;
        const drawn = drawA2VStep(config, example, sampler, seed, draw);
        const loss = await a2vStepLoss(backend, config, drawn.step, { ...stepOptions, train: true });
        if (!Number.isFinite(loss)) {
          throw new A2VError(
            "training_diverged",
            `the loss became ${loss} at step ${s + 1} (σ ${drawn.sigma.toFixed(4)}); no update was applied and the last checkpoint is kept`,
            { status: 500, details: [{ code: "training_diverged", message: `step ${s + 1}` }] },
          );
        }
        lossSum += loss;
        sigma.push(drawn.sigma);
      }
      if (gradientAccumulation > 1) scaleGrads(params.values(), 1 / gradientAccumulation);
      const lr = learningRate(schedule, s);
      optimizer.step(lr);
      optimizer.zeroGrad();
      const loss = lossSum / gradientAccumulation;
      lossHistory.push(loss);
      const step = s + 1;
      const saved = options.checkpoints && (step % options.checkpoints.every === 0 || step === steps);
      if (saved) await save(step);
      const seconds = (performance.now() - started) / 1000;
      await options.onStep?.({ step, loss, lr, sigma, seconds, ...(saved ? { checkpoint: checkpoints.at(-1) } : {}) });
    }
    const after = await evaluate();
    return {
      tensors: await download(params),
      lora,
      lossHistory,
      checkpoints,
      ...(options.evaluation ? { evaluation: { before, after } } : {}),
    };
  } finally {
    optimizer?.dispose();
    if (!options.backend) backend.dispose();
  }
}
