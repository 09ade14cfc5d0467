import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { a2vLoss } from "../src/a2v-step.js";
import { parseTransformerConfig } from "../src/config.js";
import { transformerParameters } from "../src/layout.js";
import { loraKeyA, loraKeyB, loraScale, loraTargets } from "../src/lora.js";
import { CpuBackend } from "../src/reference/cpu-backend.js";
import { TransformerCheckpoint } from "../src/weights/checkpoint.js";
import {
  goldenStep,
  hasGolden,
  maxScaledError,
  readAll,
  readGoldenConfig,
  relativeL2Error,
  TRANSFORMER_GOLDEN,
} from "./golden.js";

describe.skipIf(!hasGolden)("CPU float64 reference against transformer_a2v golden", async () => {
  const golden = hasGolden ? await readGoldenConfig() : {};
  const config = parseTransformerConfig(golden.transformer_config as Record<string, unknown>, "golden config.json");
  const t = hasGolden ? await readAll(join(TRANSFORMER_GOLDEN, "tensors.safetensors")) : new Map();
  const get = (name: string) => t.get(name)!.data as Float32Array;
  // The factory runs even when the block is skipped, so only build the step when the set exists.
  const step = hasGolden ? goldenStep(config, golden, t) : (undefined as never);

  async function backend(): Promise<CpuBackend> {
    const checkpoint = await TransformerCheckpoint.open(join(TRANSFORMER_GOLDEN, "transformer.safetensors"), {
      config,
    });
    const b = new CpuBackend();
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

  it("reproduces video_pred, audio_pred and loss without LoRA", async () => {
    const b = await backend();
    const out = a2vLoss(b, config, step);
    expect(maxScaledError(await b.read(out.video), get("video_pred"))).toBeLessThan(1e-4);
    expect(maxScaledError(await b.read(out.audio), get("audio_pred"))).toBeLessThan(1e-4);
    expect(maxScaledError(await b.read(out.loss), get("loss"))).toBeLessThan(1e-4);
  });

  it("reproduces the LoRA predictions, loss and every LoRA gradient", async () => {
    const b = await backend();
    const lora = golden.lora as { rank: number; alpha: number; target_modules: string[] };
    const loraConfig = { rank: lora.rank, alpha: lora.alpha, targetModules: lora.target_modules };
    const targets = loraTargets(config, loraConfig);
    const loraFile = await TransformerCheckpoint.open(join(TRANSFORMER_GOLDEN, "lora.safetensors"), {
      config,
      strict: false,
    });
    const loraTensors = await readAll(join(TRANSFORMER_GOLDEN, "lora.safetensors"));
    await loraFile.close();
    for (const target of targets) {
      for (const key of [loraKeyA(target.module), loraKeyB(target.module)]) {
        const tensor = loraTensors.get(`diffusion_model.${key}`)!;
        b.addParameter(key, tensor.data, tensor.shape[0]!, tensor.shape[1]!);
      }
    }
    const out = a2vLoss(b, config, step, {
      lora: { modules: new Set(targets.map((x) => x.module)), scale: loraScale(loraConfig) },
    });
    expect(maxScaledError(await b.read(out.video), get("video_pred_lora"))).toBeLessThan(1e-4);
    expect(maxScaledError(await b.read(out.audio), get("audio_pred_lora"))).toBeLessThan(1e-4);
    expect(maxScaledError(await b.read(out.loss), get("loss_lora"))).toBeLessThan(1e-4);
    b.backward(out.loss);
    const grads = await readAll(join(TRANSFORMER_GOLDEN, "lora_grads.safetensors"));
    expect(grads.size).toBe(targets.length * 2);
    let worst = 0;
    for (const target of targets) {
      for (const key of [loraKeyA(target.module), loraKeyB(target.module)]) {
        const expected = grads.get(`diffusion_model.${key}`)!.data;
        const actual = b.parameterGrad(key);
        const norm = Math.hypot(...expected);
        const err = norm === 0 ? Math.max(...Array.from(actual, Math.abs)) : relativeL2Error(actual, expected);
        worst = Math.max(worst, err);
        expect(err, key).toBeLessThan(1e-3);
      }
    }
    console.log(`worst LoRA gradient relative L2 error ${worst.toExponential(2)}`);
  });
});
