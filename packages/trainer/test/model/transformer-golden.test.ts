import { join } from "node:path";
import {
  LtxTransformer,
  type LtxTransformerOptions,
  loraKeyA,
  loraKeyB,
  loraScale,
  loraTargets,
  parseTransformerConfig,
  transformerParameters,
} from "@a2v/ltx-model";
import { TransformerCheckpoint } from "@a2v/ltx-model/weights";
import { type Device, init, releaseGpu } from "@a2v/tensor-webgpu";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { a2vStep } from "../../src/strategy.js";
import {
  goldenStep,
  hasGolden,
  maxScaledError,
  readAll,
  readGoldenConfig,
  relativeL2Error,
  TRANSFORMER_GOLDEN,
} from "./golden.js";

beforeAll(() => init());
afterAll(() => releaseGpu());

// One model code, both devices: the CPU device (f64, the reference) and the GPU (Dawn), the latter with the
// plain ops under per-block gradient checkpointing (the benchmark's baseline) and with the fused kernels.
const variants: Array<{ name: string; options: LtxTransformerOptions; gradientCheckpointing: boolean }> = [
  { name: "CPU device", options: { device: "cpu" as Device }, gradientCheckpointing: false },
  { name: "GPU, composed ops, gradient checkpointing", options: { fused: false }, gradientCheckpointing: true },
  { name: "GPU, fused kernels", options: { fused: true }, gradientCheckpointing: false },
];

describe.skipIf(!hasGolden)("transformer against the transformer_a2v golden", async () => {
  const golden = hasGolden ? await readGoldenConfig() : {};
  const config = parseTransformerConfig(golden.transformer_config as Record<string, unknown>, "golden config.json");
  const t = hasGolden ? await readAll(join(TRANSFORMER_GOLDEN, "tensors.safetensors")) : new Map();
  const get = (name: string) => t.get(name)!.data as Float32Array;
  // The factory runs even when the block is skipped, so only build the step when the set exists.
  const step = hasGolden ? goldenStep(config, golden, t) : (undefined as never);
  const spec = golden.lora as { rank: number; alpha: number; target_modules: string[] };
  const lora = { rank: spec.rank, alpha: spec.alpha, targetModules: spec.target_modules };

  async function load(options: LtxTransformerOptions): Promise<LtxTransformer> {
    const checkpoint = await TransformerCheckpoint.open(join(TRANSFORMER_GOLDEN, "transformer.safetensors"), {
      config,
    });
    const b = new LtxTransformer(options);
    await b.loadWeights(
      checkpoint,
      transformerParameters(config).map((p) => p.key),
    );
    await checkpoint.close();
    return b;
  }

  it("prepares the noisy tokens, targets, timesteps and loss mask", () => {
    expect(maxScaledError(step.video.tokens, get("video_noisy"))).toBe(0);
    expect(maxScaledError(step.targets, get("video_targets"))).toBe(0);
    expect(Array.from(step.video.timesteps)).toEqual(Array.from(get("video_timesteps")));
    expect(Array.from(step.lossMask)).toEqual(Array.from(get("loss_mask")));
  });

  for (const variant of variants) {
    it(`reproduces video_pred, audio_pred and loss without LoRA (${variant.name})`, async () => {
      const b = await load(variant.options);
      const out = await a2vStep(b, config, step);
      expect(maxScaledError(out.video, get("video_pred"))).toBeLessThan(1e-4);
      expect(maxScaledError(out.audio, get("audio_pred"))).toBeLessThan(1e-4);
      expect(maxScaledError([out.loss], get("loss"))).toBeLessThan(1e-4);
      b.dispose();
    });

    // The fused attention backward pipelines take ~1 min to build on lavapipe.
    it(`reproduces LoRA predictions, loss and every LoRA gradient (${variant.name})`, {
      timeout: 400_000,
    }, async () => {
      const b = await load(variant.options);
      const loraTensors = await readAll(join(TRANSFORMER_GOLDEN, "lora.safetensors"));
      const targets = loraTargets(config, lora);
      for (const target of targets)
        for (const key of [loraKeyA(target.module), loraKeyB(target.module)]) {
          const tensor = loraTensors.get(`diffusion_model.${key}`)!;
          b.addParameter(key, tensor.data, tensor.shape[0]!, tensor.shape[1]!);
        }
      const out = await a2vStep(b, config, step, {
        lora: { modules: new Set(targets.map((x) => x.module)), scale: loraScale(lora) },
        gradientCheckpointing: variant.gradientCheckpointing,
        train: true,
      });
      expect(maxScaledError(out.video, get("video_pred_lora"))).toBeLessThan(1e-4);
      expect(maxScaledError(out.audio, get("audio_pred_lora"))).toBeLessThan(1e-4);
      expect(maxScaledError([out.loss], get("loss_lora"))).toBeLessThan(1e-4);
      const grads = await readAll(join(TRANSFORMER_GOLDEN, "lora_grads.safetensors"));
      expect(grads.size).toBe(targets.length * 2);
      let worst = 0;
      for (const target of targets)
        for (const key of [loraKeyA(target.module), loraKeyB(target.module)]) {
          const expected = grads.get(`diffusion_model.${key}`)!.data;
          const actual = await b.parameterGrad(key);
          const norm = Math.hypot(...expected);
          const err = norm === 0 ? Math.max(...Array.from(actual, Math.abs)) : relativeL2Error(actual, expected);
          worst = Math.max(worst, err);
          expect(err, key).toBeLessThan(1e-3);
        }
      console.log(`${variant.name}: worst LoRA gradient relative L2 error ${worst.toExponential(2)}`);
      b.dispose();
    });
  }
});
