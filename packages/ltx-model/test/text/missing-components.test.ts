import { isA2VError } from "@a2v/errors";
import { describe, expect, it } from "vitest";
import { audioVaeEncoderConfig } from "../../src/audio-vae/config.js";
import { loadAudioEncoder } from "../../src/audio-vae/load.js";
import { textConnectorsConfig } from "../../src/text/config.js";
import { embeddingsProcessorParameters } from "../../src/text/layout.js";
import { loadEmbeddingsProcessor } from "../../src/text/load.js";
import { MemoryWeights } from "../../src/weights/checkpoint.js";

const TRANSFORMER = {
  caption_proj_before_connector: true,
  caption_projection_first_linear: false,
  caption_proj_input_norm: false,
  caption_projection_second_linear: false,
  num_attention_heads: 2,
  attention_head_dim: 8,
  audio_num_attention_heads: 2,
  audio_attention_head_dim: 4,
  connector_num_attention_heads: 2,
  connector_attention_head_dim: 8,
  audio_connector_num_attention_heads: 2,
  audio_connector_attention_head_dim: 4,
  connector_num_layers: 1,
  connector_positional_embedding_max_pos: [4096],
  connector_apply_gated_attention: true,
  frequencies_precision: "float64",
};

describe("missing components name the file and the keys", () => {
  it("audio VAE encoder absent from a checkpoint", async () => {
    const config = audioVaeEncoderConfig({
      model: { params: { ddconfig: { ch: 8, mid_block_add_attention: false, attn_resolutions: [], mel_bins: 64 } } },
    });
    const error = await loadAudioEncoder(new MemoryWeights(new Map()), config, "pack/video_only.safetensors").catch(
      (e) => e,
    );
    expect(isA2VError(error) && error.code).toBe("checkpoint_component_missing");
    expect(error.message).toMatch(
      /pack\/video_only.safetensors: audio VAE encoder: .*audio_vae.encoder.conv_in.conv.weight/,
    );
  });

  it("text connectors present but the feature extractor (text_embedding_projection) missing", async () => {
    const config = textConnectorsConfig(TRANSFORMER);
    const tensors = new Map<string, { shape: number[]; data: Float32Array }>();
    for (const p of embeddingsProcessorParameters(config)) {
      if (p.key.startsWith("feature_extractor.")) continue;
      const shape = p.shape ?? [3, p.key.startsWith("video") ? 16 : 8];
      const key = p.key.replace(/^(video|audio)_connector\./, "model.diffusion_model.$1_embeddings_connector.");
      tensors.set(key, { shape, data: new Float32Array(shape.reduce((a, b) => a * b, 1)) });
    }
    const error = await loadEmbeddingsProcessor(new MemoryWeights(tensors), config, "ltx.safetensors").catch((e) => e);
    expect(isA2VError(error) && error.code).toBe("checkpoint_keys_missing");
    expect(error.message).toMatch(
      /ltx.safetensors: text embeddings processor: missing keys: text_embedding_projection.video_aggregate_embed.weight/,
    );
    expect(error.details).toHaveLength(4);
  });

  it("rejects a V1 (LTX-2.0) text configuration", () => {
    expect(() =>
      textConnectorsConfig({ ...TRANSFORMER, caption_proj_before_connector: undefined }, "ltx-2.safetensors"),
    ).toThrow(/ltx-2.safetensors: config.transformer.caption_proj_before_connector/);
  });
});
