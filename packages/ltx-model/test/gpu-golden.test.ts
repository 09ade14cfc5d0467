import { join } from "node:path";
import { init, releaseGpu, scope } from "@a2v/tensor-webgpu";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { a2vLoss } from "../src/a2v-step.js";
import { parseTransformerConfig } from "../src/config.js";
import { GpuBackend, gpuA2VStep } from "../src/gpu/gpu-backend.js";
import { transformerParameters } from "../src/layout.js";
import { loraKeyA, loraKeyB, loraScale, loraTargets } from "../src/lora.js";
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

beforeAll(() => init());
afterAll(() => releaseGpu());

describe.skipIf(!hasGolden)("GPU transformer against transformer_a2v golden", async () => {
  const golden = hasGolden ? await readGoldenConfig() : {};
  const config = parseTransformerConfig(golden.transformer_config as Record<string, unknown>, "golden config.json");
  const t = hasGolden ? await readAll(join(TRANSFORMER_GOLDEN, "tensors.safetensors")) : new Map();
  const get = (name: string) => t.get(name)!.data as Float32Array;
  // The factory runs even when the block is skipped, so only build the step when the set exists.
  const step = hasGolden ? goldenStep(config, golden, t) : (undefined as never);
  const spec = golden.lora as { rank: number; alpha: number; target_modules: string[] };
  const lora = { rank: spec.rank, alpha: spec.alpha, targetModules: spec.target_modules };

  async function backend(options: ConstructorParameters<typeof GpuBackend>[0] = {}): Promise<GpuBackend> {
    const checkpoint = await TransformerCheckpoint.open(join(TRANSFORMER_GOLDEN, "transformer.safetensors"), {
      config,
    });
    const b = new GpuBackend(options);
    await b.loadWeights(
      checkpoint,
      transformerParameters(config).map((p) => p.key),
    );
    await checkpoint.close();
    return b;
  }

  it("reproduces video_pred, audio_pred and loss without LoRA", async () => {
    const b = await backend();
    const out = scope(() => a2vLoss(b, config, step));
    expect(maxScaledError(await b.read(out.video), get("video_pred"))).toBeLessThan(1e-4);
    expect(maxScaledError(await b.read(out.audio), get("audio_pred"))).toBeLessThan(1e-4);
    expect(maxScaledError(await b.read(out.loss), get("loss"))).toBeLessThan(1e-4);
    for (const x of Object.values(out)) x.dispose();
    b.dispose();
  });

  // Both GPU paths train: the plain ops with per-block checkpointing (the benchmark's baseline) and
  // the fused kernels. The fused attention backward pipelines take ~1 min to build on lavapipe.
  for (const variant of [
    { name: "composed ops, per-block gradient checkpointing", fused: false, gradientCheckpointing: true },
    { name: "fused kernels", fused: true, gradientCheckpointing: false },
  ]) {
    it(`reproduces LoRA predictions, loss and every LoRA gradient (${variant.name})`, {
      timeout: 400_000,
    }, async () => {
      const b = await backend({ fused: variant.fused });
      const loraTensors = await readAll(join(TRANSFORMER_GOLDEN, "lora.safetensors"));
      const targets = loraTargets(config, lora);
      for (const target of targets)
        for (const key of [loraKeyA(target.module), loraKeyB(target.module)]) {
          const tensor = loraTensors.get(`diffusion_model.${key}`)!;
          b.addParameter(key, tensor.data, tensor.shape[0]!, tensor.shape[1]!);
        }
      const out = await gpuA2VStep(b, config, step, {
        lora: { modules: new Set(targets.map((x) => x.module)), scale: loraScale(lora) },
        gradientCheckpointing: variant.gradientCheckpointing,
        train: true,
      });
      expect(maxScaledError(out.video, get("video_pred_lora"))).toBeLessThan(1e-4);
      expect(maxScaledError(out.audio, get("audio_pred_lora"))).toBeLessThan(1e-4);
      expect(maxScaledError([out.loss], get("loss_lora"))).toBeLessThan(1e-4);
      const grads = await readAll(join(TRANSFORMER_GOLDEN, "lora_grads.safetensors"));
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
