import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { LTX_TINY, parseTransformerConfig, preset, transformerConfigFromMetadata } from "../src/config.js";
import { describe as describeModel, formatDescription, LTX_23_TEXT_PATH } from "../src/describe.js";
import { isBlockLinear, numel, transformerParameters } from "../src/layout.js";
import { loraTargets } from "../src/lora.js";
import { mapTensors, TransformerCheckpoint } from "../src/weights/checkpoint.js";
import { encodeFloats } from "../src/weights/dtypes.js";
import {
  parseSafetensorsHeader,
  SafetensorsFile,
  type TensorToWrite,
  writeSafetensors,
} from "../src/weights/safetensors.js";
import { hasGolden, readGoldenConfig, TRANSFORMER_GOLDEN } from "./golden.js";

const dir = await mkdtemp(join(tmpdir(), "ltx-config-"));
afterAll(() => rm(dir, { recursive: true, force: true }));

/** The released checkpoint's `config.transformer` keys that matter (values as upstream's configurator reads them). */
const METADATA_22B = {
  num_layers: 48,
  num_attention_heads: 32,
  attention_head_dim: 128,
  audio_num_attention_heads: 32,
  audio_attention_head_dim: 64,
  cross_attention_dim: 4096,
  audio_cross_attention_dim: 2048,
  activation_fn: "gelu-approximate",
  qk_norm: "rms_norm",
  standardization_norm: "rms_norm",
  positional_embedding_type: "rope",
  frequencies_precision: "float64",
  rope_type: "split",
  av_ca_timestep_scale_multiplier: 1000,
  apply_gated_attention: true,
  cross_attention_adaln: true,
  caption_proj_before_connector: true,
  caption_channels: 3840,
};

describe("transformer config", () => {
  it("parses checkpoint metadata the upstream way and equals the 22B preset", () => {
    const config = transformerConfigFromMetadata({ config: JSON.stringify({ transformer: METADATA_22B }) });
    expect(config).toEqual(preset("ltx-2.3-22b"));
    expect(config.doublePrecisionRope).toBe(true);
    expect(config.captionChannels).toBeNull();
  });

  it("keeps the LTX-2 caption projection inside the DiT when the metadata says so", () => {
    const { caption_proj_before_connector: _, ...ltx2 } = METADATA_22B;
    const config = parseTransformerConfig({ ...ltx2, apply_gated_attention: false, cross_attention_adaln: false });
    expect(config.captionChannels).toBe(3840);
    expect(transformerParameters(config).some((p) => p.key === "caption_projection.linear_1.weight")).toBe(true);
    expect(
      transformerParameters(config).find((p) => p.key === "transformer_blocks.0.scale_shift_table")!.shape,
    ).toEqual([6, 4096]);
  });

  it("rejects metadata describing another architecture, naming the rule", () => {
    expect(() => parseTransformerConfig({ ...METADATA_22B, qk_norm: "layer_norm" }, "x.safetensors")).toThrow(
      /x\.safetensors: qk_norm is "layer_norm", this model requires "rms_norm"/,
    );
    expect(() => parseTransformerConfig({ ...METADATA_22B, audio_num_attention_heads: 16 })).toThrow(
      /audio_num_attention_heads/,
    );
    expect(() => transformerConfigFromMetadata({}, "y")).toThrow(/y: metadata has no `config` entry/);
  });

  it.skipIf(!hasGolden)("parses the golden constructor arguments into the tiny preset", async () => {
    const golden = await readGoldenConfig();
    expect(parseTransformerConfig(golden.transformer_config as Record<string, unknown>)).toEqual(LTX_TINY);
  });
});

describe("describe", () => {
  it("counts ~18.99B DiT parameters and ~22.16B with the text side for the 22B preset, without allocating", () => {
    const d = describeModel(preset("ltx-2.3-22b"), { textPath: LTX_23_TEXT_PATH });
    expect(d.parameters.dit / 1e9).toBeCloseTo(18.989, 2);
    expect(d.parameters.total / 1e9).toBeCloseTo(22.16, 1);
    expect(d.parameters.video / 1e9).toBeCloseTo(12.9, 1);
    expect(d.parameters.audio / 1e9).toBeCloseTo(3.23, 1);
    expect(d.parameters.audioVideo / 1e9).toBeCloseTo(2.43, 1);
    expect(d.tokens).toEqual({ video: 12 * 17 * 30, audio: 93 });
    // 24 attention projections × 48 blocks; rank 32 → ~214M trainable values.
    expect(d.lora.modules).toBe(1152);
    expect(d.lora.parameters / 1e6).toBeCloseTo(214, -1);
    expect(d.trainingStepBytes.bf16.weights).toBe(d.parameters.dit * 2);
    // fp8/int8: the block linears at a byte each (plus their scales), everything else bf16.
    const specs = transformerParameters(preset("ltx-2.3-22b"));
    const linears = specs.filter((s) => isBlockLinear(s.key, s.shape));
    const linearCount = linears.reduce((n, s) => n + numel(s.shape), 0);
    expect(linearCount / d.parameters.dit).toBeGreaterThan(0.9);
    const rest = 2 * (d.parameters.dit - linearCount);
    expect(d.trainingStepBytes.fp8.weights).toBe(linearCount + rest + 4 * linears.length);
    expect(d.trainingStepBytes.int8.weights).toBe(
      linearCount + rest + 4 * linears.reduce((n, s) => n + s.shape[0]!, 0),
    );
    expect(d.trainingStepBytes.fp8.weights / 2 ** 30).toBeLessThan(0.55 * (d.trainingStepBytes.bf16.weights / 2 ** 30));
    const text = formatDescription(d);
    expect(text).toMatch(/DiT parameters: 18\.9\d\d B/);
    expect(text).toMatch(/training step, bf16 weights: \d+\.\d\d GiB/);
  });

  it("counts the tiny preset exactly as its golden checkpoint holds it", async () => {
    const d = describeModel(LTX_TINY);
    if (!hasGolden) return;
    const file = await SafetensorsFile.open(join(TRANSFORMER_GOLDEN, "transformer.safetensors"));
    expect(d.parameters.dit).toBe(file.entries().reduce((n, e) => n + numel(e.shape), 0));
    await file.close();
  });
});

describe("checkpoint key mapping", () => {
  it("maps every key of a synthetic header-only 22B checkpoint (ComfyUI prefix, other components)", async () => {
    const config = preset("ltx-2.3-22b");
    const specs = transformerParameters(config);
    // A header-only checkpoint: the JSON header of the real file layout (bf16 offsets), no data section.
    const header: Record<string, unknown> = { __metadata__: { config: JSON.stringify({ transformer: {} }) } };
    let offset = 0;
    const add = (name: string, shape: number[]) => {
      header[name] = { dtype: "BF16", shape, data_offsets: [offset, offset + numel(shape) * 2] };
      offset += numel(shape) * 2;
    };
    for (const s of specs) add(`model.diffusion_model.${s.key}`, s.shape);
    add("model.diffusion_model.video_embeddings_connector.learnable_registers", [128, 4096]);
    add("vae.encoder.conv_in.conv.weight", [128, 48, 3, 3, 3]);
    add("text_embedding_projection.video_aggregate_embed.weight", [4096, 188160]);
    const json = JSON.stringify(header);
    const parsed = parseSafetensorsHeader(json, 8 + json.length, 8 + json.length + offset, "synthetic-22b");
    const entries = [...parsed.tensors.values()];
    const { tensors, report } = mapTensors({ entries: () => entries }, specs);
    expect(report.missing).toEqual([]);
    expect(report.unexpected).toEqual([]);
    expect(report.shapeMismatches).toEqual([]);
    expect(report.otherComponentKeys).toBe(3);
    expect(tensors.size).toBe(specs.length);
    expect(specs.reduce((n, s) => n + numel(s.shape), 0) / 1e9).toBeCloseTo(18.989, 2);
  });

  it("loads a checkpoint under each prefix, dequantises scaled fp8, reports missing and unexpected keys", async () => {
    const config = LTX_TINY;
    const specs = transformerParameters(config);
    const prefixes = ["", "diffusion_model.", "model.diffusion_model."];
    for (const prefix of prefixes) {
      const tensors: TensorToWrite[] = specs
        .filter((s) => s.key !== "proj_out.bias")
        .map((s) => ({
          name: prefix + s.key,
          dtype: "BF16",
          shape: s.shape,
          data: encodeFloats(new Float32Array(numel(s.shape)).fill(0.5), "BF16"),
        }));
      // One pre-quantised fp8 weight with its scale, as scaled-fp8 checkpoints store them.
      const q = tensors.find((t) => t.name === `${prefix}transformer_blocks.0.attn1.to_q.weight`)!;
      q.dtype = "F8_E4M3";
      q.data = new Uint8Array(q.data.length / 2).fill(0x38); // 1.0
      tensors.push({
        name: `${prefix}transformer_blocks.0.attn1.to_q.weight_scale`,
        dtype: "F32",
        shape: [],
        data: encodeFloats([0.25], "F32"),
      });
      tensors.push({
        name: `${prefix}transformer_blocks.0.attn1.extra.weight`,
        dtype: "F32",
        shape: [1],
        data: encodeFloats([1], "F32"),
      });
      const path = join(dir, `tiny${prefix || "bare"}.safetensors`);
      await writeSafetensors(path, tensors, {
        config: JSON.stringify({
          transformer: {
            num_layers: 2,
            num_attention_heads: 2,
            attention_head_dim: 16,
            cross_attention_dim: 32,
            audio_num_attention_heads: 2,
            audio_attention_head_dim: 8,
            audio_cross_attention_dim: 16,
            frequencies_precision: "float64",
            av_ca_timestep_scale_multiplier: 1000,
            apply_gated_attention: true,
            cross_attention_adaln: true,
            caption_proj_before_connector: true,
          },
        }),
      });

      await expect(TransformerCheckpoint.open(path)).rejects.toMatchObject({
        code: "checkpoint_incompatible",
        details: [{ message: "missing proj_out.bias" }],
      });
      const checkpoint = await TransformerCheckpoint.open(path, { strict: false });
      expect(checkpoint.config).toEqual(LTX_TINY);
      expect(checkpoint.report.missing).toEqual(["proj_out.bias"]);
      expect(checkpoint.report.unexpected).toEqual(["transformer_blocks.0.attn1.extra.weight"]);
      expect(
        Array.from(await checkpoint.readFloat32("transformer_blocks.0.attn1.to_q.weight")).every((v) => v === 0.25),
      ).toBe(true);
      expect(
        Array.from(await checkpoint.readFloat32("transformer_blocks.0.attn1.to_k.weight")).every((v) => v === 0.5),
      ).toBe(true);
      // bf16 weights come back as their stored bytes (no float32 detour).
      const raw = await checkpoint.readAs("transformer_blocks.0.attn1.to_k.weight", "BF16");
      expect(raw.byteLength).toBe(32 * 32 * 2);
      await checkpoint.close();
    }
  });

  it("selects LoRA targets by module suffix like PEFT", () => {
    const attn = loraTargets(LTX_TINY, { rank: 4, alpha: 8, targetModules: ["to_q", "to_k", "to_v", "to_out.0"] });
    expect(attn.length).toBe(2 * 6 * 4);
    const ff = loraTargets(LTX_TINY, { rank: 4, alpha: 8, targetModules: ["ff.net.0.proj"] });
    // `ff.net.0.proj` matches the video FF only; the audio FF is `audio_ff.net.0.proj`.
    expect(ff.map((t) => t.module)).toEqual([
      "transformer_blocks.0.ff.net.0.proj",
      "transformer_blocks.1.ff.net.0.proj",
    ]);
    expect(() => loraTargets(LTX_TINY, { rank: 4, alpha: 4, targetModules: ["nothing"] })).toThrow(/match no Linear/);
  });
});
