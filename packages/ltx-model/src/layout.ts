import { adalnRows, audioInnerDim, type LtxTransformerConfig, videoInnerDim } from "./config.js";

/** Sinusoidal timestep features fed to every AdaLN-single MLP (upstream `Timesteps(256)`). */
export const TIMESTEP_PROJ_DIM = 256;
/** Rows of the per-block A↔V tables: scale/shift for a2v, scale/shift for v2a, gate. */
export const AV_CA_TABLE_ROWS = 5;

/** One parameter of the DiT under its exact upstream state-dict key. */
export interface ParameterSpec {
  key: string;
  shape: number[];
  /** Coarse grouping for `describe`: which part of the model owns it. */
  group: "video" | "audio" | "audio_video" | "global";
}

/** The attention modules of a block, with the streams their queries and keys/values come from. */
export const ATTENTION_MODULES = [
  "attn1",
  "attn2",
  "audio_attn1",
  "audio_attn2",
  "audio_to_video_attn",
  "video_to_audio_attn",
] as const;
export type AttentionModuleName = (typeof ATTENTION_MODULES)[number];

export interface AttentionShape {
  queryDim: number;
  contextDim: number;
  heads: number;
  headDim: number;
}

export function attentionShape(config: LtxTransformerConfig, name: AttentionModuleName): AttentionShape {
  const dv = videoInnerDim(config);
  const da = audioInnerDim(config);
  const video = { heads: config.numAttentionHeads, headDim: config.attentionHeadDim };
  const audio = { heads: config.audioNumAttentionHeads, headDim: config.audioAttentionHeadDim };
  switch (name) {
    case "attn1":
      return { queryDim: dv, contextDim: dv, ...video };
    case "attn2":
      return { queryDim: dv, contextDim: config.crossAttentionDim, ...video };
    case "audio_attn1":
      return { queryDim: da, contextDim: da, ...audio };
    case "audio_attn2":
      return { queryDim: da, contextDim: config.audioCrossAttentionDim, ...audio };
    // Both cross-modal attentions run at the audio stream's heads (upstream `BasicAVTransformerBlock`).
    case "audio_to_video_attn":
      return { queryDim: dv, contextDim: da, ...audio };
    case "video_to_audio_attn":
      return { queryDim: da, contextDim: dv, ...audio };
  }
}

function linear(
  out: ParameterSpec[],
  key: string,
  outDim: number,
  inDim: number,
  group: ParameterSpec["group"],
  bias = true,
): void {
  out.push({ key: `${key}.weight`, shape: [outDim, inDim], group });
  if (bias) out.push({ key: `${key}.bias`, shape: [outDim], group });
}

function adalnSingle(
  out: ParameterSpec[],
  key: string,
  dim: number,
  coefficient: number,
  group: ParameterSpec["group"],
): void {
  linear(out, `${key}.emb.timestep_embedder.linear_1`, dim, TIMESTEP_PROJ_DIM, group);
  linear(out, `${key}.emb.timestep_embedder.linear_2`, dim, dim, group);
  linear(out, `${key}.linear`, coefficient * dim, dim, group);
}

function attention(
  out: ParameterSpec[],
  key: string,
  shape: AttentionShape,
  gated: boolean,
  group: ParameterSpec["group"],
): void {
  const inner = shape.heads * shape.headDim;
  out.push({ key: `${key}.q_norm.weight`, shape: [inner], group });
  out.push({ key: `${key}.k_norm.weight`, shape: [inner], group });
  linear(out, `${key}.to_q`, inner, shape.queryDim, group);
  linear(out, `${key}.to_k`, inner, shape.contextDim, group);
  linear(out, `${key}.to_v`, inner, shape.contextDim, group);
  if (gated) linear(out, `${key}.to_gate_logits`, shape.heads, shape.queryDim, group);
  linear(out, `${key}.to_out.0`, shape.queryDim, inner, group);
}

/**
 * Every parameter the audio-video DiT holds for `config`, in upstream key names (no prefix).
 * The text connectors and feature-extractor projections live outside the DiT and are not listed.
 */
export function transformerParameters(config: LtxTransformerConfig): ParameterSpec[] {
  const dv = videoInnerDim(config);
  const da = audioInnerDim(config);
  const rows = adalnRows(config);
  const promptAdaln = config.crossAttentionAdaln && config.usePromptAdalnSingle;
  const out: ParameterSpec[] = [];

  linear(out, "patchify_proj", dv, config.inChannels, "global");
  adalnSingle(out, "adaln_single", dv, rows, "global");
  if (promptAdaln) adalnSingle(out, "prompt_adaln_single", dv, 2, "global");
  if (config.captionChannels !== null) {
    linear(out, "caption_projection.linear_1", dv, config.captionChannels, "global");
    linear(out, "caption_projection.linear_2", dv, dv, "global");
  }
  out.push({ key: "scale_shift_table", shape: [2, dv], group: "global" });
  linear(out, "proj_out", config.outChannels, dv, "global");

  linear(out, "audio_patchify_proj", da, config.audioInChannels, "global");
  adalnSingle(out, "audio_adaln_single", da, rows, "global");
  if (promptAdaln) adalnSingle(out, "audio_prompt_adaln_single", da, 2, "global");
  if (config.captionChannels !== null) {
    linear(out, "audio_caption_projection.linear_1", da, config.captionChannels, "global");
    linear(out, "audio_caption_projection.linear_2", da, da, "global");
  }
  out.push({ key: "audio_scale_shift_table", shape: [2, da], group: "global" });
  linear(out, "audio_proj_out", config.audioOutChannels, da, "global");

  adalnSingle(out, "av_ca_video_scale_shift_adaln_single", dv, 4, "global");
  adalnSingle(out, "av_ca_audio_scale_shift_adaln_single", da, 4, "global");
  adalnSingle(out, "av_ca_a2v_gate_adaln_single", dv, 1, "global");
  adalnSingle(out, "av_ca_v2a_gate_adaln_single", da, 1, "global");

  const gated = config.applyGatedAttention;
  for (let i = 0; i < config.numLayers; i++) {
    const b = `transformer_blocks.${i}`;
    attention(out, `${b}.attn1`, attentionShape(config, "attn1"), gated, "video");
    attention(out, `${b}.attn2`, attentionShape(config, "attn2"), gated, "video");
    linear(out, `${b}.ff.net.0.proj`, 4 * dv, dv, "video", config.ffBias);
    linear(out, `${b}.ff.net.2`, dv, 4 * dv, "video", config.ffBias);
    out.push({ key: `${b}.scale_shift_table`, shape: [rows, dv], group: "video" });
    if (config.crossAttentionAdaln) out.push({ key: `${b}.prompt_scale_shift_table`, shape: [2, dv], group: "video" });

    attention(out, `${b}.audio_attn1`, attentionShape(config, "audio_attn1"), gated, "audio");
    attention(out, `${b}.audio_attn2`, attentionShape(config, "audio_attn2"), gated, "audio");
    linear(out, `${b}.audio_ff.net.0.proj`, 4 * da, da, "audio", config.audioFfBias);
    linear(out, `${b}.audio_ff.net.2`, da, 4 * da, "audio", config.audioFfBias);
    out.push({ key: `${b}.audio_scale_shift_table`, shape: [rows, da], group: "audio" });
    if (config.crossAttentionAdaln)
      out.push({ key: `${b}.audio_prompt_scale_shift_table`, shape: [2, da], group: "audio" });

    attention(out, `${b}.audio_to_video_attn`, attentionShape(config, "audio_to_video_attn"), gated, "audio_video");
    attention(out, `${b}.video_to_audio_attn`, attentionShape(config, "video_to_audio_attn"), gated, "audio_video");
    out.push({ key: `${b}.scale_shift_table_a2v_ca_audio`, shape: [AV_CA_TABLE_ROWS, da], group: "audio_video" });
    out.push({ key: `${b}.scale_shift_table_a2v_ca_video`, shape: [AV_CA_TABLE_ROWS, dv], group: "audio_video" });
  }
  return out;
}

export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** How the base weights are stored: f32, bf16, or the block linears as 8-bit codes (fp8 e4m3 or int8) and the rest bf16. */
export type WeightMode = "f32" | "bf16" | "fp8" | "int8";

/** The block linears: the weights fp8/int8 modes keep as 8-bit codes (attention and feed-forward projections). */
export function isBlockLinear(key: string, shape: readonly number[]): boolean {
  return key.startsWith("transformer_blocks.") && key.endsWith(".weight") && shape.length === 2;
}
