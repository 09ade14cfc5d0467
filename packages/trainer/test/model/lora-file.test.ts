import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  initLoraWeights,
  LtxTransformer,
  loadLoraFile,
  loraKeyA,
  loraKeyB,
  loraTargets,
  loraTrainingState,
  parseTransformerConfig,
  saveLoraFile,
  transformerParameters,
} from "@a2v/ltx-model";
import { SafetensorsFile, TransformerCheckpoint } from "@a2v/ltx-model/weights";
import { afterAll, describe, expect, it } from "vitest";
import { a2vStep } from "../../src/strategy.js";
import { goldenStep, hasGolden, maxScaledError, readAll, readGoldenConfig, TRANSFORMER_GOLDEN } from "./golden.js";

const dir = await mkdtemp(join(tmpdir(), "ltx-lora-"));
afterAll(() => rm(dir, { recursive: true, force: true }));

describe.skipIf(!hasGolden)("LoRA files in the official format", async () => {
  const golden = hasGolden ? await readGoldenConfig() : {};
  const config = parseTransformerConfig(golden.transformer_config as Record<string, unknown>);
  const spec = golden.lora as { rank: number; alpha: number; target_modules: string[] };
  const lora = { rank: spec.rank, alpha: spec.alpha, targetModules: spec.target_modules };
  const trained = new Map(
    [
      ...(hasGolden
        ? await readAll(join(TRANSFORMER_GOLDEN, "lora.safetensors"))
        : new Map<string, { shape: number[]; data: Float32Array }>()),
    ].map(([k, v]) => [k.slice("diffusion_model.".length), v]),
  );

  it("writes diffusion_model.<module>.lora_{A,B}.weight with alpha/rank folded into B and no .alpha keys", async () => {
    const path = join(dir, "folded.safetensors");
    await saveLoraFile(path, trained, lora, { dtype: "F32", metadata: { step: "7" } });
    const file = await SafetensorsFile.open(path);
    expect(file.keys().some((k) => k.endsWith(".alpha"))).toBe(false);
    expect(
      file
        .keys()
        .every((k) => /^diffusion_model\.transformer_blocks\.\d+\.\w+\.to_(q|k|v|out\.0)\.lora_[AB]\.weight$/.test(k)),
    ).toBe(true);
    expect(file.keys().length).toBe(trained.size);
    expect(file.metadata.step).toBe("7");
    const key = "transformer_blocks.1.attn2.to_v";
    expect(Array.from(await file.readFloat32(`diffusion_model.${key}.lora_B.weight`))).toEqual(
      Array.from(trained.get(`${key}.lora_B.weight`)!.data, (v: number) => v * 2),
    );
    expect(Array.from(await file.readFloat32(`diffusion_model.${key}.lora_A.weight`))).toEqual(
      Array.from(trained.get(`${key}.lora_A.weight`)!.data),
    );
    await file.close();
  });

  it("a folded file applied at scale 1 (as the official pipelines do) reproduces the trained predictions", async () => {
    const path = join(dir, "folded.safetensors");
    const loaded = await loadLoraFile(path);
    expect(loaded).toMatchObject({ rank: 4, alpha: 8, folded: true, runtimeScale: 1 });
    const t = await readAll(join(TRANSFORMER_GOLDEN, "tensors.safetensors"));
    const get = (n: string) => t.get(n)!.data;
    const step = goldenStep(config, golden, t);
    const checkpoint = await TransformerCheckpoint.open(join(TRANSFORMER_GOLDEN, "transformer.safetensors"), {
      config,
    });
    const b = new LtxTransformer({ device: "cpu" });
    await b.loadWeights(
      checkpoint,
      transformerParameters(config).map((p) => p.key),
    );
    await checkpoint.close();
    const targets = loraTargets(config, lora);
    for (const target of targets)
      for (const key of [loraKeyA(target.module), loraKeyB(target.module)]) {
        const tensor = loaded.tensors.get(key)!;
        b.addParameter(key, tensor.data, tensor.shape[0]!, tensor.shape[1]!);
      }
    const out = await a2vStep(b, config, step, {
      lora: { modules: new Set(targets.map((x) => x.module)), scale: loaded.runtimeScale },
    });
    expect(maxScaledError(out.video, get("video_pred_lora"))).toBeLessThan(1e-4);
    expect(maxScaledError([out.loss], get("loss_lora"))).toBeLessThan(1e-4);
  });

  it("round-trips bf16 files back to the training state for resuming", async () => {
    const path = join(dir, "bf16.safetensors");
    await saveLoraFile(path, trained, lora);
    const file = await SafetensorsFile.open(path);
    expect(file.entries().every((e) => e.dtype === "BF16")).toBe(true);
    await file.close();
    const state = loraTrainingState(await loadLoraFile(path), lora);
    for (const [key, t] of trained) {
      const back = state.get(key)!.data;
      for (let i = 0; i < back.length; i++)
        expect(Math.abs(back[i]! - t.data[i]!)).toBeLessThanOrEqual(Math.abs(t.data[i]!) * 2 ** -8);
    }
  });
});

describe("LoRA initialisation", () => {
  it("starts with B = 0 and A uniform within 1/sqrt(in)", () => {
    const config = parseTransformerConfig({
      num_layers: 1,
      num_attention_heads: 2,
      attention_head_dim: 8,
      cross_attention_dim: 16,
      audio_num_attention_heads: 2,
      audio_attention_head_dim: 4,
      audio_cross_attention_dim: 8,
      caption_proj_before_connector: true,
    });
    const targets = loraTargets(config, { rank: 2, alpha: 2, targetModules: ["to_q"] });
    let seed = 1;
    const random = () => {
      seed = (seed * 16807) % 2147483647;
      return seed / 2147483647;
    };
    const weights = initLoraWeights(targets, 2, random);
    for (const t of targets) {
      expect(weights.get(loraKeyB(t.module))!.data.every((v) => v === 0)).toBe(true);
      const a = weights.get(loraKeyA(t.module))!;
      expect(a.shape).toEqual([2, t.inDim]);
      expect(a.data.every((v) => Math.abs(v) <= 1 / Math.sqrt(t.inDim))).toBe(true);
      expect(a.data.some((v) => v !== 0)).toBe(true);
    }
  });
});
