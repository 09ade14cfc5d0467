import { createHash } from "node:crypto";
import { mkdir, rename, rm } from "node:fs/promises";
import { createRequire } from "node:module";
import { homedir } from "node:os";
import { join, resolve } from "node:path";
import {
  createRunDir,
  groupsFromManifest,
  loadDataset,
  type PreprocessSummary,
  preprocess,
  preprocessSamples,
  removeRunDir,
  sweepStaleRunDirs,
} from "@a2v/dataset";
import { A2VError } from "@a2v/errors";
import {
  type ActiveLora,
  DEFAULT_LORA,
  ensureTinyModel,
  type LoraConfig,
  type LtxModel,
  type LtxModelPaths,
  LtxTransformer,
  type LtxTransformerOptions,
  loraScale,
  loraTargets,
  openLtxModel,
  saveLoraFile,
  transformerParameters,
  type WeightMode,
} from "@a2v/ltx-model";
import { init, releaseGpu, rt } from "@a2v/tensor-webgpu";
import {
  LatentCache,
  latestResumeState,
  loadResumeState,
  SampleEncoder,
  type TrainingExample,
  trainLora,
  writeTrainingConfigFile,
} from "@a2v/trainer";
import { type Bill, billing } from "../billing.js";
import { parseTrainInput, sampleOptionsFor } from "../input.js";
import { EventChannel, type TrainEvent, type TrainStage } from "./events.js";
import { Previews } from "./previews.js";

export interface TrainOptions {
  /** `'tiny'` (default): the embedded tiny model; or the official files (LTX-2.3 checkpoint + Gemma 3 folder). */
  model?: "tiny" | { checkpoint: string; textEncoder: string };
  /** Where the outputs and checkpoints go (created if missing). */
  outDir: string;
  /** Seeds LoRA init, example order, σ and noise (default 42). */
  seed?: number;
  /** Stops at the next step boundary after a checkpoint; the job then fails with code `aborted`. */
  signal?: AbortSignal;
  onEvent?: (event: TrainEvent) => void;
  /** Continue from the newest complete checkpoint in `outDir/checkpoints` (same input, model and seed). */
  resume?: boolean;
  /** Save a checkpoint every N steps (default 250, and always after the last). */
  checkpointEvery?: number;
  /** Validation previews every N steps during training (default 100, the official trainer's; 0: only at the end). */
  validationEvery?: number;
  /** Checkpoints kept (default 2). */
  keepCheckpoints?: number;
  /** Decoded samples, encoded latents and the tiny model are cached here (default `$A2V_CACHE_DIR` or ~/.cache/a2v). */
  cacheDir?: string;
  /**
   * How the base weights are stored on the GPU: "bf16" (the 22B model's native dtype), "fp8" (the block linears
   * as e4m3 codes, one scale per tensor: the official fp8 checkpoint as stored), "int8" (one scale per output
   * channel, quantized on load); both 8-bit modes keep the other weights in bf16. Default: f32 for the tiny model,
   * bf16 for a checkpoint. LoRA and its gradients stay f32.
   */
  weights?: WeightMode;
  /**
   * Gradient checkpointing: false, true (per block) or "sublayers" (each sub-layer of a block too: the least
   * memory). Default: off for the tiny model, "sublayers" for a checkpoint.
   */
  gradientCheckpointing?: boolean | "sublayers";
  /** Transformer GPU settings (kernels; `weights` sets `weightDType`). */
  gpu?: LtxTransformerOptions;
  /** URLs of the dataset may resolve to private addresses (local tools and tests). */
  allowPrivateNetwork?: boolean;
}

export interface TrainMetrics {
  /** Loss of every optimizer step. */
  loss: number[];
  /** Loss over a fixed evaluation set (every sample at σ 0.25/0.5/0.75, fixed noise) before and after training. */
  evaluation: { before: number; after: number };
  /** Mean wall time of a training step (this process's steps). */
  stepSeconds: number;
  /** High-water mark of GPU memory the job's tensors held, in bytes. */
  peakGpuBytes: number;
  /** Wall time per stage. */
  stageSeconds: Partial<Record<TrainStage, number>>;
  samples: number;
  /** Samples whose latents came from the cache. */
  cachedSamples: number;
  /** Wall time spent sampling validation previews (during and after training). */
  previewSeconds: number;
}

/** The service's outputs (paths in `outDir`), the bill and what the run measured. */
export interface TrainResult {
  lora_file: string;
  config_file: string;
  /** The validation reel (`validation.mp4`): every preview in step order; absent without validation entries. */
  video?: string;
  debug_dataset?: string;
  billing: Bill;
  metrics: TrainMetrics;
}

/** A running job: await it for the result, or iterate it for its events (both at once is fine). */
export type TrainJob = Promise<TrainResult> & AsyncIterable<TrainEvent>;

const EVALUATION_SIGMAS = [0.25, 0.5, 0.75];
const MODEL_NAMES = { tiny: "a2v tiny LTX-2.3 (embedded)" } as const;

export function defaultCacheDir(): string {
  return process.env.A2V_CACHE_DIR || join(process.env.XDG_CACHE_HOME || join(homedir(), ".cache"), "a2v");
}

async function modelPaths(model: TrainOptions["model"], cacheDir: string): Promise<LtxModelPaths> {
  if (model === undefined || model === "tiny") return ensureTinyModel(join(cacheDir, "models"));
  return { checkpoint: resolve(model.checkpoint), textEncoder: resolve(model.textEncoder) };
}

/**
 * Trains a LoRA as the hosted `/a2v` trainer does: fetch and validate the archive (every 422 rule), preprocess it
 * into samples (cached), encode each sample once with the model's frozen encoders (latents cached on disk by
 * content), free the encoders, train the LoRA with flow matching, and write the service's outputs. Failures reject
 * with an `A2VError` and leave no LoRA file; only a completed run is billed.
 */
export function train(raw: unknown, options: TrainOptions): TrainJob {
  const channel = new EventChannel();
  const emit = (event: TrainEvent) => {
    channel.push(event);
    options.onEvent?.(event);
  };
  const promise = runTraining(raw, options, emit).then(
    (result) => {
      channel.close();
      return result;
    },
    (error: unknown) => {
      channel.close(error);
      throw error;
    },
  );
  // Iterating is optional: a job nobody iterates must not report an unhandled rejection twice.
  promise.catch(() => {});
  return Object.assign(promise, { [Symbol.asyncIterator]: () => channel[Symbol.asyncIterator]() });
}

async function runTraining(raw: unknown, options: TrainOptions, emit: (e: TrainEvent) => void): Promise<TrainResult> {
  const input = parseTrainInput(raw);
  const seed = options.seed ?? 42;
  for (const [name, value] of [
    ["seed", options.seed],
    ["checkpointEvery", options.checkpointEvery],
    ["validationEvery", options.validationEvery],
    ["keepCheckpoints", options.keepCheckpoints],
  ] as const) {
    const min = name === "validationEvery" || name === "seed" ? 0 : 1;
    if (value !== undefined && !(Number.isInteger(value) && value >= min)) {
      throw new A2VError("invalid_option", `${name} must be an integer ≥ ${min}, got ${value}`, { status: 422 });
    }
  }
  const outDir = resolve(options.outDir);
  const cacheDir = resolve(options.cacheDir ?? defaultCacheDir());
  const checkpointDir = join(outDir, "checkpoints");
  const stageSeconds: TrainMetrics["stageSeconds"] = {};
  const stage = async <T>(name: TrainStage, work: () => Promise<T>): Promise<T> => {
    stopIfAborted(options.signal, name);
    const started = performance.now();
    emit({ type: "stage", stage: name, status: "start" });
    const value = await work();
    stageSeconds[name] = (performance.now() - started) / 1000;
    emit({ type: "stage", stage: name, status: "done", seconds: stageSeconds[name]! });
    return value;
  };
  await mkdir(outDir, { recursive: true });
  // A failed run leaves no LoRA: outputs of an earlier run in the same folder are replaced only on success.
  // One temp folder for the run (download, extracted files, scratch); folders of runs that were killed are swept.
  await sweepStaleRunDirs();
  const work = await createRunDir();
  let model: LtxModel | undefined;
  let backend: LtxTransformer | undefined;
  let previews: Previews | undefined;
  try {
    model = await openLtxModel(await modelPaths(options.model, cacheDir));
    const defaultWeights = options.model === undefined || options.model === "tiny" ? "f32" : "bf16";
    const weightDType = options.weights ?? options.gpu?.weightDType ?? defaultWeights;
    // The weight mode changes the numerics, so a resume must use the same one (the default mode adds nothing, so
    // checkpoints from before `weights` existed still resume).
    const fingerprint = createHash("sha256")
      .update(JSON.stringify([input, model.id, seed, ...(weightDType === defaultWeights ? [] : [weightDType])]))
      .digest("hex");
    const resumeFrom = options.resume ? await latestResumeState(checkpointDir) : undefined;
    if (options.resume && !resumeFrom)
      emit({ type: "log", message: `no checkpoint in ${checkpointDir}: starting at step 0` });

    const manifest = await stage("fetch", () =>
      loadDataset(input.training_data_url, {
        triggerPhrase: input.trigger_phrase,
        numberOfFrames: input.number_of_frames,
        frameRate: input.frame_rate,
        autoScaleInput: input.auto_scale_input,
        allowPrivateNetwork: options.allowPrivateNetwork,
        tempDir: work,
        extractTo: join(work, "files"),
        onProgress: (e) =>
          emit(
            e.phase === "download"
              ? { type: "progress", stage: "fetch", done: e.bytes, unit: "bytes" }
              : { type: "progress", stage: "fetch", done: e.done, total: e.total, unit: e.phase },
          ),
      }),
    );
    for (const w of manifest.warnings) emit({ type: "warning", code: w.code, message: w.message, group: w.group });

    const samples = sampleOptionsFor(input);
    const sampleCache = join(cacheDir, "samples");
    const summary: PreprocessSummary = await stage("preprocess", () =>
      preprocess({
        ...samples,
        groups: manifest,
        outDir: join(work, "preprocess"),
        cacheDir: sampleCache,
        tempDir: work,
        debugDataset: input.debug_dataset,
        onWarning: (w) => emit({ type: "warning", code: w.code, message: w.message, group: w.group }),
        onProgress: (e) =>
          emit({
            type: "progress",
            stage: "preprocess",
            done: e.groupsDone,
            total: e.groupsTotal,
            unit: "groups",
            detail: e.group,
          }),
      }),
    );

    let cachedSamples = 0;
    const examples: TrainingExample[] = await stage("encode", async () => {
      const cache = new LatentCache(join(cacheDir, "latents"), model!.id);
      const out: TrainingExample[] = [];
      let encoder: SampleEncoder | undefined;
      emit({ type: "progress", stage: "encode", done: 0, total: summary.samples, unit: "samples" });
      try {
        // Every group is a cache hit now: samples are read back, not decoded again.
        for await (const sample of preprocessSamples(groupsFromManifest(manifest), {
          ...samples,
          cacheDir: sampleCache,
        })) {
          stopIfAborted(options.signal, "encode");
          const key = cache.key(sample);
          let example = await cache.get(key);
          if (example) cachedSamples++;
          else {
            encoder ??= await SampleEncoder.create(model!, cacheDir);
            example = await encoder.encode(sample);
            await cache.put(key, example);
          }
          out.push(example);
          emit({
            type: "progress",
            stage: "encode",
            done: out.length,
            total: summary.samples,
            unit: "samples",
            detail: sample.id,
          });
        }
      } finally {
        // The encoders' GPU memory goes back before the transformer is loaded.
        encoder?.dispose();
      }
      return out;
    });
    await rm(join(work, "files"), { recursive: true, force: true });

    const stepTimes: number[] = [];
    const config = model.transformer;
    const lora: LoraConfig = { ...DEFAULT_LORA, rank: input.rank, alpha: input.rank };
    const active: ActiveLora = {
      modules: new Set(loraTargets(config, lora).map((t) => t.module)),
      scale: loraScale(lora),
    };
    // The run owns the transformer: training and the validation previews share its weights and LoRA parameters.
    backend = new LtxTransformer({ ...(options.gpu ?? (await defaultGpuOptions())), weightDType });
    await backend.loadWeights(
      model.transformerWeights,
      transformerParameters(config).map((p) => p.key),
    );
    const fromStep = resumeFrom ? (await loadResumeState(resumeFrom)).step : 0;
    previews = await Previews.create(
      model,
      input,
      { outDir, cacheDir, seed, fromStep, allowPrivateNetwork: options.allowPrivateNetwork },
      emit,
    );
    const validationEvery = options.validationEvery ?? 100;
    let previewSeconds = 0;
    const trained = await stage("train", () =>
      trainLora({
        config,
        backend: backend!,
        lora,
        optimizer: { lr: input.learning_rate },
        steps: input.number_of_steps,
        seed,
        examples,
        // A checkpoint (the 22B model) keeps one sub-layer's activations at a time (docs/perf.md, issue 18); the
        // tiny model needs no checkpointing.
        gradientCheckpointing: options.gradientCheckpointing ?? (defaultWeights === "f32" ? false : "sublayers"),
        checkpoints: { dir: checkpointDir, every: options.checkpointEvery ?? 250, keep: options.keepCheckpoints ?? 2 },
        resumeFrom,
        fingerprint,
        signal: options.signal,
        evaluation: { sigmas: EVALUATION_SIGMAS },
        onStep: async (p) => {
          stepTimes.push(p.seconds);
          const mean = stepTimes.reduce((a, b) => a + b, 0) / stepTimes.length;
          emit({
            type: "step",
            step: p.step,
            steps: input.number_of_steps,
            loss: p.loss,
            lr: p.lr,
            seconds: p.seconds,
            etaSeconds: mean * (input.number_of_steps - p.step),
          });
          if (p.checkpoint) emit({ type: "checkpoint", step: p.step, file: p.checkpoint });
          // Intermediate previews; the last step's come after training. Sampling uses its own RNG stream and no
          // autograd, so the trained LoRA is the same with and without them.
          if (previews && validationEvery > 0 && p.step % validationEvery === 0 && p.step < input.number_of_steps) {
            previewSeconds += await previews.sampleAt(p.step, backend!, active, options.signal);
          }
        },
      }),
    );
    const video = previews
      ? await stage("validate", async () => {
          previewSeconds += await previews!.sampleAt(input.number_of_steps, backend!, active, options.signal);
          return previews!.reel(join(outDir, "validation.mp4"));
        })
      : undefined;

    return await stage("outputs", async () => {
      const loraFile = join(outDir, "lora_weights.safetensors");
      const configFile = join(outDir, "config.json");
      await saveLoraFile(loraFile, trained.tensors, trained.lora, {
        metadata: { trigger_phrase: input.trigger_phrase, training_type: "a2v" },
      });
      await writeTrainingConfigFile(configFile, {
        triggerPhrase: input.trigger_phrase,
        baseModel: options.model === undefined || options.model === "tiny" ? MODEL_NAMES.tiny : model!.paths.checkpoint,
        rank: trained.lora.rank,
        alpha: trained.lora.alpha,
        targetModules: [...trained.lora.targetModules],
        numberOfFrames: input.number_of_frames,
        frameRate: input.frame_rate,
        training: {
          number_of_steps: input.number_of_steps,
          learning_rate: input.learning_rate,
          resolution: input.resolution,
          aspect_ratio: input.aspect_ratio,
          resolution_bucket: samples.bucket,
          seed,
          samples: summary.samples,
          dataset_sha256: datasetHash(summary),
          a2v_version: A2V_VERSION,
        },
      });
      let debugDataset: string | undefined;
      if (summary.debugDataset) {
        debugDataset = join(outDir, "debug_dataset.zip");
        await rename(summary.debugDataset, debugDataset);
      }
      return {
        lora_file: loraFile,
        config_file: configFile,
        ...(video ? { video } : {}),
        ...(debugDataset ? { debug_dataset: debugDataset } : {}),
        billing: billing(input),
        metrics: {
          loss: trained.lossHistory,
          evaluation: trained.evaluation!,
          stepSeconds: stepTimes.length > 0 ? stepTimes.reduce((a, b) => a + b, 0) / stepTimes.length : 0,
          peakGpuBytes: gpuMemoryPeak(),
          stageSeconds,
          samples: summary.samples,
          cachedSamples,
          previewSeconds,
        },
      };
    });
  } finally {
    await previews?.dispose();
    backend?.dispose();
    await model?.close();
    await removeRunDir(work);
    releaseGpu();
  }
}

/** Stopping before training is a plain stop: there is no step to checkpoint yet, and no bill. */
function stopIfAborted(signal: AbortSignal | undefined, stage: TrainStage): void {
  if (!signal?.aborted) return;
  throw new A2VError("aborted", `stopped before ${stage === "encode" ? "encoding finished" : `the ${stage} stage`}`, {
    status: 499,
    details: [{ code: "aborted", message: `stage ${stage}` }],
  });
}

/** The package version recorded in config files. */
const A2V_VERSION = (createRequire(import.meta.url)("../../package.json") as { version: string }).version;

/**
 * Fused attention/LoRA kernels on GPUs; on a CPU adapter (lavapipe) the composed ops, whose pipelines compile in
 * seconds where the fused backward kernels take minutes (docs/perf.md has both step times).
 */
async function defaultGpuOptions(): Promise<LtxTransformerOptions> {
  await init();
  return { fused: !rt().gpu.info.isSoftware };
}

/** The most GPU memory the job's tensors held at once (the runtime lives until the job releases it). */
function gpuMemoryPeak(): number {
  return rt().pool.stats.peakBytes;
}

/** A digest of what was trained on: each group's name and source sizes, and each sample's id and range. */
function datasetHash(summary: PreprocessSummary): string {
  const groups = summary.groups.map((g) => [g.name, g.clipSeconds, g.audioSeconds, g.samples.map((s) => s.id)]);
  return createHash("sha256").update(JSON.stringify(groups)).digest("hex");
}
