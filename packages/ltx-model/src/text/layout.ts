import { type KeyLayout, type ParamSpec, prefixLayout } from "../vae/component-weights.js";
import type { ConnectorConfig, TextConnectorsConfig } from "./config.js";

function linear(key: string, out: number, inp: number, bias = true): ParamSpec[] {
  return [{ key: `${key}.weight`, shape: [out, inp] }, ...(bias ? [{ key: `${key}.bias`, shape: [out] }] : [])];
}

function connectorParameters(prefix: string, c: ConnectorConfig): ParamSpec[] {
  const dim = c.heads * c.headDim;
  // The register count is the checkpoint's (128 released, fewer in tiny tests).
  const params: ParamSpec[] = [{ key: `${prefix}.learnable_registers` }];
  for (let i = 0; i < c.layers; i++) {
    const block = `${prefix}.transformer_1d_blocks.${i}`;
    params.push(
      { key: `${block}.attn1.q_norm.weight`, shape: [dim] },
      { key: `${block}.attn1.k_norm.weight`, shape: [dim] },
    );
    for (const p of ["to_q", "to_k", "to_v", "to_out.0"]) params.push(...linear(`${block}.attn1.${p}`, dim, dim));
    if (c.gatedAttention) params.push(...linear(`${block}.attn1.to_gate_logits`, c.heads, dim));
    params.push(
      ...linear(`${block}.ff.net.0.proj`, 4 * dim, dim, c.ffBias),
      ...linear(`${block}.ff.net.2`, dim, 4 * dim, c.ffBias),
    );
  }
  return params;
}

/** Every parameter of `EmbeddingsProcessor` (feature extractor V2 + both connectors). */
export function embeddingsProcessorParameters(config: TextConnectorsConfig): ParamSpec[] {
  return [
    // The input width (Gemma hidden size × hidden states) is the checkpoint's.
    { key: "feature_extractor.video_aggregate_embed.weight" },
    { key: "feature_extractor.video_aggregate_embed.bias", shape: [config.videoDim] },
    { key: "feature_extractor.audio_aggregate_embed.weight" },
    { key: "feature_extractor.audio_aggregate_embed.bias", shape: [config.audioDim] },
    ...connectorParameters("video_connector", config.video),
    ...connectorParameters("audio_connector", config.audio),
  ];
}

/**
 * Module keys, or the released layout: feature extractor under `text_embedding_projection.*`,
 * connectors inside the DiT as `(model.)diffusion_model.{video,audio}_embeddings_connector.*`.
 */
export const EMBEDDINGS_PROCESSOR_KEY_LAYOUTS: KeyLayout[] = [
  (key) => key,
  ...["", "diffusion_model.", "model.diffusion_model."].map((dit) =>
    prefixLayout([
      ["feature_extractor.", "text_embedding_projection."],
      ["video_connector.", `${dit}video_embeddings_connector.`],
      ["audio_connector.", `${dit}audio_embeddings_connector.`],
    ]),
  ),
];
