import {
  DEFAULT_LORA_TARGETS,
  initLoraWeights,
  isBlockLinear,
  LTX_23_22B,
  LtxTransformer,
  loraParameterCount,
  loraTargets,
  numel,
  transformerParameters,
  videoTokenCount,
  type WeightMode,
} from "@a2v/ltx-model";
import { init, rt } from "@a2v/tensor-webgpu";
import { afterAll, beforeAll, bench, describe } from "vitest";
import { a2vStep } from "../src/strategy.js";
import { syntheticStep, syntheticWeights } from "./synthetic.js";

// Issue 18: GPU memory measured, not estimated. ONE block of the 22B model at full width (4096/2048, 32 heads) is
// loaded in each base-weight mode and trained for one LoRA step (rank 32, every attention's q/k/v/out) over a few
// tokens; the runtime's pool counts the bytes. The whole-model plan for the default a2v job (544×960×89, rank 32,
// gradient checkpointing) is built from those measurements: 48 × the block's weights + the measured non-block
// weights, the LoRA state, 48 checkpointed block inputs (bf16), and one block's step activations scaled to the
// job's token count (linear in tokens: flash attention keeps no T² scores). `pnpm exec vitest bench --run bench/block-memory.bench.ts` (minutes on lavapipe).
const config = { ...LTX_23_22B, numLayers: 1 };
const specs = transformerParameters(config);
const blockKeys = specs.filter((s) => s.key.startsWith("transformer_blocks.")).map((s) => s.key);
const globalKeys = specs.filter((s) => !s.key.startsWith("transformer_blocks.")).map((s) => s.key);
const RANK = 32;
const SMALL = { frames: 2, height: 4, width: 4 };
const LARGE = { frames: 2, height: 8, width: 8 };
const audioTokens = 8;
const lines: string[] = [];
const gib = (n: number) => (n / 2 ** 30).toFixed(2);

beforeAll(async () => {
  await init();
});
afterAll(() => {
  for (const line of lines) console.log(line);
});

const live = () => rt().pool.stats.liveBytes;

interface Measured {
  mode: WeightMode;
  blockWeights: number;
  globalWeights: number;
  lora: number;
  /** The step's high-water mark of live tensor bytes above what was resident before it. */
  stepActivations: number;
  /** The same with the pool's cache of freed buffers (what the runtime held). */
  stepHeld: number;
}

async function measure(
  mode: WeightMode,
  grid = SMALL,
  gradientCheckpointing: true | "sublayers" = true,
  budgetAboveResident = Number.POSITIVE_INFINITY,
): Promise<Measured> {
  const pool = rt().pool;
  // What a GPU runs: the fused kernels with flash attention (on a CPU adapter "auto" would store the scores).
  const t = new LtxTransformer({ weightDType: mode, attentionKernel: "fused" });
  const source = syntheticWeights(config);
  const start = live();
  await t.loadWeights(source, blockKeys);
  const blockWeights = live() - start;
  await t.loadWeights(source, globalKeys);
  const globalWeights = live() - start - blockWeights;
  const targets = loraTargets(config, { rank: RANK, alpha: RANK, targetModules: DEFAULT_LORA_TARGETS });
  for (const [key, w] of initLoraWeights(targets, RANK, () => 0.5))
    t.addParameter(key, w.data, w.shape[0]!, w.shape[1]!);
  const lora = live() - start - blockWeights - globalWeights;
  // The step's high-water mark above what was resident before it: activations, temporaries, LoRA gradients.
  await rt().flush();
  pool.trim();
  pool.resetPeak();
  const before = live();
  pool.budgetBytes = before + budgetAboveResident;
  await a2vStep(t, config, syntheticStep(config, grid, audioTokens), {
    lora: { modules: new Set(targets.map((x) => x.module)), scale: 1 },
    train: true,
    gradientCheckpointing,
  });
  const stepActivations = pool.stats.peakLiveBytes - before;
  const stepHeld = pool.stats.peakBytes - before;
  pool.budgetBytes = Number.POSITIVE_INFINITY;
  t.dispose();
  return { mode, blockWeights, globalWeights, lora, stepActivations, stepHeld };
}

describe("one 22B block at full width: measured GPU bytes per base-weight mode", () => {
  bench(
    "bf16, fp8, int8",
    async () => {
      // What train() runs on a checkpoint model (sub-layer checkpoints) in each mode, and fp8 with per-block
      // checkpoints for comparison; each at two sizes, whose difference gives the bytes per video token.
      const rows: Array<{ label: string; mode: WeightMode; gc: true | "sublayers" }> = [
        { label: "bf16", mode: "bf16", gc: "sublayers" },
        { label: "fp8", mode: "fp8", gc: "sublayers" },
        { label: "int8", mode: "int8", gc: "sublayers" },
        { label: "fp8, per-block checkpoints", mode: "fp8", gc: true },
      ];
      const tokens = videoTokenCount(SMALL);
      const largeTokens = videoTokenCount(LARGE);
      // The default job: 544×960, 89 frames at 24 fps → 12 × 17 × 30 video tokens; audio 25 latents per second.
      const jobVideo = videoTokenCount({ frames: 12, height: 17, width: 30 });
      const jobAudio = Math.ceil((89 / 24) * 25);
      const layers = LTX_23_22B.numLayers;
      const loraParams = loraParameterCount(
        loraTargets(LTX_23_22B, { rank: RANK, alpha: RANK, targetModules: DEFAULT_LORA_TARGETS }),
        RANK,
      );
      // LoRA weights, gradients and two AdamW moments, f32.
      const loraState = loraParams * 16;
      // Checkpointed block inputs: bf16 in every mode but f32 (LtxTransformer.checkpointDType).
      const checkpoints = (mode: WeightMode) => layers * (jobVideo * 4096 + jobAudio * 2048) * (mode === "f32" ? 4 : 2);
      const blockLinears = specs.filter((s) => isBlockLinear(s.key, s.shape)).reduce((n, s) => n + numel(s.shape), 0);
      const mib = (n: number) => (n / 2 ** 20).toFixed(1);
      lines.push(
        `one block: ${(blockLinears / 1e6).toFixed(0)} M block-linear weights; fused kernels, flash attention; steps over ${tokens} and ` +
          `${largeTokens} video tokens + ${audioTokens} audio tokens`,
        `plan terms: LoRA+grads+AdamW ${gib(loraState)} GiB, ${layers} checkpointed block inputs (bf16) ${gib(checkpoints("bf16"))} GiB`,
        "| mode | block weights GiB | non-block weights GiB | block step live / held MiB at 32 tokens | live / held KiB per video token | 48-block model at 544×960×89, rank 32: live GiB (GB) / held GiB |",
        "|---|---|---|---|---|---|",
      );
      for (const { label, mode, gc } of rows) {
        const r = await measure(mode, SMALL, gc);
        const large = await measure(mode, LARGE, gc);
        const slope = (key: "stepActivations" | "stepHeld") => (large[key] - r[key]) / (largeTokens - tokens);
        const fixed = layers * r.blockWeights + r.globalWeights + loraState + checkpoints(mode);
        const plan = (key: "stepActivations" | "stepHeld") => fixed + r[key] + slope(key) * (jobVideo - tokens);
        lines.push(
          `| ${label} | ${gib(r.blockWeights)} | ${gib(r.globalWeights)} | ${mib(r.stepActivations)} / ${mib(r.stepHeld)} | ` +
            `${(slope("stepActivations") / 1024).toFixed(0)} / ${(slope("stepHeld") / 1024).toFixed(0)} | ` +
            `${gib(plan("stepActivations"))} (${(plan("stepActivations") / 1e9).toFixed(1)}) / ${gib(plan("stepHeld"))} |`,
        );
        console.log(lines[lines.length - 1]);
      }
    },
    { iterations: 1, warmupIterations: 0, time: 0, warmupTime: 0 },
  );
});

// The "held" column above is a cold first step without a bound: every buffer freed while work waits for a pipeline
// stays cached. Under a pool budget (A2V_GPU_MEMORY_GIB) the runtime compiles pipelines synchronously and trims the
// cache; here the budget is the step's own live peak + 10%, at both sizes.
describe("one 22B block at full width: held bytes under a pool budget", () => {
  bench(
    "fp8, sub-layer checkpoints, budget = live + 10%",
    async () => {
      lines.push(
        "| step | live MiB | budget MiB | held MiB, no budget | held MiB, under the budget |",
        "|---|---|---|---|---|",
      );
      for (const grid of [SMALL, LARGE]) {
        const free = await measure("fp8", grid, "sublayers");
        const budget = 1.1 * free.stepActivations;
        const bounded = await measure("fp8", grid, "sublayers", budget);
        const mib = (n: number) => (n / 2 ** 20).toFixed(1);
        lines.push(
          `| ${videoTokenCount(grid)} video tokens | ${mib(bounded.stepActivations)} | ${mib(budget)} | ${mib(free.stepHeld)} | ${mib(bounded.stepHeld)} |`,
        );
      }
    },
    { iterations: 1, warmupIterations: 0, time: 0, warmupTime: 0 },
  );
});
