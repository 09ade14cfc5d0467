/**
 * Full-width training steps per base-weight mode, for a machine that has only Node (a lent GPU): bundled into
 * `.gpu-kit/app/gpu-step.mjs` by `scripts/gpu-kit.sh` and run by `scripts/gpu-bench.sh step`. Each mode loads
 * `A2V_STEP_LAYERS` blocks of the 22B model at full width (synthetic weights), trains LoRA (rank 32, every
 * attention's q/k/v/out, AdamW) over the default job's tokens (544×960×89: 6120 video + 93 audio tokens) the way
 * `train()` runs a checkpoint model (sub-layer gradient checkpoints, bf16 block inputs, fused kernels), and
 * reports the step time and the pool's measured peak; the 48-block figures add the measured per-block bytes
 * (weights, LoRA state, checkpointed input) and time for the blocks not loaded.
 *
 * Env: A2V_STEP_LAYERS (default 8), A2V_STEP_GRID (latent frames×height×width, default 12x17x30),
 * A2V_STEP_ITERS (timed steps, default 2), A2V_STEP_PRESET (ltx-2.3-22b or tiny). Arguments: the modes
 * (default bf16 fp8 int8).
 */
import { pathToFileURL } from "node:url";
import { A2VError } from "@a2v/errors";
import {
  audioInnerDim,
  DEFAULT_LORA_TARGETS,
  initLoraWeights,
  LtxTransformer,
  type LtxTransformerConfig,
  loraParameterCount,
  loraTargets,
  PRESETS,
  transformerParameters,
  videoInnerDim,
  videoTokenCount,
  type WeightMode,
} from "@a2v/ltx-model";
import { AdamW, init, releaseGpu, rt } from "@a2v/tensor-webgpu";
import { a2vStepLoss } from "../src/strategy.js";
import { syntheticStep, syntheticWeights } from "./synthetic.js";

export interface GpuStepOptions {
  preset: keyof typeof PRESETS;
  layers: number;
  grid: { frames: number; height: number; width: number };
  audioTokens: number;
  iterations: number;
  rank: number;
}

export interface GpuStepRow {
  mode: WeightMode;
  /** Median wall time of one step (forward, backward, AdamW) over the loaded blocks, ms. */
  stepMs: number;
  /** The pool's peak of live tensor bytes over the timed steps (weights included), and with its cache. */
  peakLiveBytes: number;
  peakHeldBytes: number;
  /** Bytes each further block adds: its weights, its LoRA state (weights, gradients, two moments) and its checkpointed input. */
  perBlockBytes: number;
  /** The same figures for the whole model (numLayers blocks of the preset). */
  fullStepMs: number;
  fullPeakLiveBytes: number;
  fullPeakHeldBytes: number;
}

export async function gpuStepRow(mode: WeightMode, o: GpuStepOptions): Promise<GpuStepRow> {
  const full = PRESETS[o.preset];
  const config: LtxTransformerConfig = { ...full, numLayers: o.layers };
  const pool = rt().pool;
  await rt().flush();
  pool.trim();
  const t = new LtxTransformer({ weightDType: mode });
  const keys = transformerParameters(config).map((s) => s.key);
  const blockKeys = keys.filter((k) => k.startsWith("transformer_blocks."));
  const before = pool.stats.liveBytes;
  await t.loadWeights(syntheticWeights(config), blockKeys);
  const blockWeights = (pool.stats.liveBytes - before) / o.layers;
  await t.loadWeights(
    syntheticWeights(config),
    keys.filter((k) => !k.startsWith("transformer_blocks.")),
  );
  const targets = loraTargets(config, { rank: o.rank, alpha: o.rank, targetModules: DEFAULT_LORA_TARGETS });
  let seed = 1;
  const random = () => {
    seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
    return seed / 4294967296;
  };
  const params = [...initLoraWeights(targets, o.rank, random)].map(([key, w]) =>
    t.addParameter(key, w.data, w.shape[0]!, w.shape[1]!),
  );
  const optimizer = new AdamW(params, {
    lr: 1e-4,
    beta1: 0.9,
    beta2: 0.999,
    eps: 1e-8,
    weightDecay: 0,
    maxGradNorm: 1,
  });
  const step = syntheticStep(config, o.grid, o.audioTokens);
  const lora = { modules: new Set(targets.map((x) => x.module)), scale: 1 };
  const run = async () => {
    const start = performance.now();
    await a2vStepLoss(t, config, step, { lora, train: true, gradientCheckpointing: "sublayers" });
    optimizer.step();
    t.zeroGrad();
    await rt().idle();
    return performance.now() - start;
  };
  await run(); // warm-up: pipelines compile (a cold step's cache is bounded only under A2V_GPU_MEMORY_GIB)
  await rt().flush();
  pool.resetPeak();
  const times: number[] = [];
  for (let i = 0; i < o.iterations; i++) times.push(await run());
  const stepMs = times.sort((a, b) => a - b)[Math.floor(times.length / 2)]!;
  const { peakLiveBytes, peakBytes } = pool.stats;
  optimizer.dispose();
  t.dispose();
  const loraPerBlock = (loraParameterCount(targets, o.rank) * 16) / o.layers;
  const tokens = videoTokenCount(o.grid);
  const checkpointPerBlock = (tokens * videoInnerDim(full) + o.audioTokens * audioInnerDim(full)) * 2;
  const perBlockBytes = blockWeights + loraPerBlock + checkpointPerBlock;
  const more = full.numLayers - o.layers;
  return {
    mode,
    stepMs,
    peakLiveBytes,
    peakHeldBytes: peakBytes,
    perBlockBytes,
    fullStepMs: (stepMs * full.numLayers) / o.layers,
    fullPeakLiveBytes: peakLiveBytes + more * perBlockBytes,
    fullPeakHeldBytes: peakBytes + more * perBlockBytes,
  };
}

export function gpuStepTable(rows: readonly GpuStepRow[], o: GpuStepOptions): string[] {
  const gib = (n: number) => (n / 2 ** 30).toFixed(2);
  const full = PRESETS[o.preset].numLayers;
  return [
    `${o.preset}, ${o.layers} of ${full} blocks at full width, ${videoTokenCount(o.grid)} video + ${o.audioTokens} audio tokens, ` +
      `LoRA rank ${o.rank}, sub-layer checkpoints, median of ${o.iterations} steps after one warm-up`,
    `| mode | step ms (${o.layers} blocks) | peak live / held GiB (${o.layers} blocks) | GiB per further block | ${full} blocks: step s | ${full} blocks: peak live GiB (GB) / held GiB |`,
    "|---|---|---|---|---|---|",
    ...rows.map(
      (r) =>
        `| ${r.mode} | ${r.stepMs.toFixed(0)} | ${gib(r.peakLiveBytes)} / ${gib(r.peakHeldBytes)} | ${gib(r.perBlockBytes)} | ` +
        `${(r.fullStepMs / 1000).toFixed(1)} | ${gib(r.fullPeakLiveBytes)} (${(r.fullPeakLiveBytes / 1e9).toFixed(1)}) / ${gib(r.fullPeakHeldBytes)} |`,
    ),
  ];
}

function optionsFromEnv(): GpuStepOptions {
  const grid = (process.env.A2V_STEP_GRID ?? "12x17x30").split("x").map(Number);
  const preset = (process.env.A2V_STEP_PRESET ?? "ltx-2.3-22b") as keyof typeof PRESETS;
  if (!(preset in PRESETS) || grid.length !== 3 || grid.some((n) => !(n > 0))) {
    throw new A2VError(
      "bad_env",
      `A2V_STEP_PRESET must be one of ${Object.keys(PRESETS).join(", ")} and A2V_STEP_GRID FxHxW, got ${preset} and ${grid.join("x")}`,
    );
  }
  return {
    preset,
    layers: Number(process.env.A2V_STEP_LAYERS ?? 8),
    grid: { frames: grid[0]!, height: grid[1]!, width: grid[2]! },
    // 89 frames at 24 fps, 25 audio latents per second.
    audioTokens: Math.ceil((((grid[0]! - 1) * 8 + 1) / 24) * 25),
    iterations: Number(process.env.A2V_STEP_ITERS ?? 2),
    rank: 32,
  };
}

async function main(): Promise<void> {
  const modes = (process.argv.slice(2).length ? process.argv.slice(2) : ["bf16", "fp8", "int8"]) as WeightMode[];
  const o = optionsFromEnv();
  await init();
  const rows: GpuStepRow[] = [];
  for (const mode of modes) {
    rows.push(await gpuStepRow(mode, o));
    process.stderr.write(`${mode} done\n`);
  }
  for (const line of gpuStepTable(rows, o)) console.log(line);
  releaseGpu();
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) await main();
