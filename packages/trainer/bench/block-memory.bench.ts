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
// per-block gradient checkpointing) is built from those measurements: 48 × the block's weights + the measured
// non-block weights, the LoRA state, 48 checkpointed block inputs (bf16), and one block's step activations scaled to
// the job's token count. `pnpm exec vitest bench --run bench/block-memory.bench.ts` (minutes on lavapipe).
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
): Promise<Measured> {
  const pool = rt().pool;
  const t = new LtxTransformer({ fused: false, weightDType: mode });
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
  await a2vStep(t, config, syntheticStep(config, grid, audioTokens), {
    lora: { modules: new Set(targets.map((x) => x.module)), scale: 1 },
    train: true,
    gradientCheckpointing,
  });
  const stepActivations = pool.stats.peakLiveBytes - before;
  const stepHeld = pool.stats.peakBytes - before;
  t.dispose();
  return { mode, blockWeights, globalWeights, lora, stepActivations, stepHeld };
}

describe("one 22B block at full width: measured GPU bytes per base-weight mode", () => {
  bench(
    "bf16, fp8, int8",
    async () => {
      const results: Measured[] = [];
      for (const mode of ["bf16", "fp8", "int8"] as const) results.push(await measure(mode));
      // The step's activations grow with the token count: a second size (bf16) gives the bytes per video token.
      const large = await measure("bf16", LARGE);
      // Sub-layer checkpointing (a block's backward holds one sub-layer's activations at a time), fp8, both sizes.
      const fineSmall = await measure("fp8", SMALL, "sublayers");
      const fineLarge = await measure("fp8", LARGE, "sublayers");
      const tokens = videoTokenCount(SMALL);
      const slope = (key: "stepActivations" | "stepHeld") =>
        (large[key] - results[0]![key]) / (videoTokenCount(LARGE) - tokens);
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
      lines.push(
        `one block: ${(blockLinears / 1e6).toFixed(0)} M block-linear weights; step over ${tokens} video + ${audioTokens} audio ` +
          `tokens (bf16 also over ${videoTokenCount(LARGE)}: ${(large.stepActivations / 2 ** 20).toFixed(1)} MiB live)`,
        "| mode | block weights GiB | non-block weights GiB | block step: live / held MiB (measured) | 48-block model at 544×960×89, rank 32: live / held GiB |",
        "|---|---|---|---|---|",
      );
      const rows: Array<{ label: string; r: Measured; slope: (key: "stepActivations" | "stepHeld") => number }> = [
        ...results.map((r) => ({ label: r.mode, r, slope })),
        {
          label: "fp8, sub-layer checkpoints",
          r: fineSmall,
          slope: (key: "stepActivations" | "stepHeld") =>
            (fineLarge[key] - fineSmall[key]) / (videoTokenCount(LARGE) - tokens),
        },
      ];
      for (const { label, r, slope } of rows) {
        const fixed = layers * r.blockWeights + r.globalWeights + loraState + checkpoints(r.mode);
        const plan = (key: "stepActivations" | "stepHeld") => fixed + r[key] + slope(key) * (jobVideo - tokens);
        const mib = (n: number) => (n / 2 ** 20).toFixed(1);
        lines.push(
          `| ${label} | ${gib(r.blockWeights)} | ${gib(r.globalWeights)} | ${mib(r.stepActivations)} / ${mib(r.stepHeld)} | ` +
            `${gib(plan("stepActivations"))} / ${gib(plan("stepHeld"))} |`,
        );
      }
      lines.push(
        `plan terms: LoRA+grads+AdamW ${gib(loraState)} GiB, ${layers} checkpointed block inputs (bf16) ${gib(checkpoints("bf16"))} GiB, ` +
          `one block's activations at ${jobVideo} video tokens: measured at ${tokens} plus ` +
          `${(slope("stepActivations") / 2 ** 10).toFixed(0)} KiB live / ${(slope("stepHeld") / 2 ** 10).toFixed(0)} KiB held per video token ` +
          `(the slope from ${tokens} to ${videoTokenCount(LARGE)} tokens)`,
      );
    },
    { iterations: 1, warmupIterations: 0, time: 0, warmupTime: 0 },
  );
});
