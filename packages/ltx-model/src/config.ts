import { A2VError } from "@a2v/errors";

/**
 * The audio-video transformer's hyper-parameters, named after upstream `LTXModel`'s constructor
 * arguments (camelCased). Parsed from checkpoint metadata like `LTXModelConfigurator.from_metadata`.
 */
export interface LtxTransformerConfig {
  numLayers: number;
  numAttentionHeads: number;
  attentionHeadDim: number;
  inChannels: number;
  outChannels: number;
  /** Width of the video text context entering attn2. */
  crossAttentionDim: number;
  audioNumAttentionHeads: number;
  audioAttentionHeadDim: number;
  audioInChannels: number;
  audioOutChannels: number;
  /** Width of the audio text context, and the RoPE width of the A↔V cross-attention. */
  audioCrossAttentionDim: number;
  normEps: number;
  positionalEmbeddingTheta: number;
  positionalEmbeddingMaxPos: number[];
  audioPositionalEmbeddingMaxPos: number[];
  timestepScaleMultiplier: number;
  avCaTimestepScaleMultiplier: number;
  ropeType: "split";
  /** RoPE frequency grid built in float64 (`frequencies_precision: "float64"`). */
  doublePrecisionRope: boolean;
  useMiddleIndicesGrid: boolean;
  applyGatedAttention: boolean;
  crossAttentionAdaln: boolean;
  usePromptAdalnSingle: boolean;
  ffBias: boolean;
  audioFfBias: boolean;
  /**
   * LTX-2 (19B) keeps the caption projection inside the DiT (`caption_channels` → width);
   * LTX-2.3 moves it into the text path (`caption_proj_before_connector`), so this is null.
   */
  captionChannels: number | null;
}

const DEFAULTS: LtxTransformerConfig = {
  numLayers: 48,
  numAttentionHeads: 32,
  attentionHeadDim: 128,
  inChannels: 128,
  outChannels: 128,
  crossAttentionDim: 4096,
  audioNumAttentionHeads: 32,
  audioAttentionHeadDim: 64,
  audioInChannels: 128,
  audioOutChannels: 128,
  audioCrossAttentionDim: 2048,
  normEps: 1e-6,
  positionalEmbeddingTheta: 10000,
  positionalEmbeddingMaxPos: [20, 2048, 2048],
  audioPositionalEmbeddingMaxPos: [20],
  timestepScaleMultiplier: 1000,
  avCaTimestepScaleMultiplier: 1,
  ropeType: "split",
  doublePrecisionRope: false,
  useMiddleIndicesGrid: true,
  applyGatedAttention: false,
  crossAttentionAdaln: false,
  usePromptAdalnSingle: true,
  ffBias: true,
  audioFfBias: true,
  captionChannels: null,
};

/** LTX-2.3 22B, as released (`ltx-2.3-22b-dev` metadata). */
export const LTX_23_22B: LtxTransformerConfig = {
  ...DEFAULTS,
  avCaTimestepScaleMultiplier: 1000,
  doublePrecisionRope: true,
  applyGatedAttention: true,
  crossAttentionAdaln: true,
};

/** A 2-layer model of the same architecture, small enough for lavapipe tests and the demo. */
export const LTX_TINY: LtxTransformerConfig = {
  ...LTX_23_22B,
  numLayers: 2,
  numAttentionHeads: 2,
  attentionHeadDim: 16,
  crossAttentionDim: 32,
  audioNumAttentionHeads: 2,
  audioAttentionHeadDim: 8,
  audioCrossAttentionDim: 16,
};

export const PRESETS = { "ltx-2.3-22b": LTX_23_22B, tiny: LTX_TINY } as const;
export type PresetName = keyof typeof PRESETS;

export function preset(name: PresetName): LtxTransformerConfig {
  const config = PRESETS[name];
  if (!config)
    throw new A2VError("unknown_preset", `unknown model preset ${name} (known: ${Object.keys(PRESETS)})`, {
      status: 422,
    });
  return structuredClone(config);
}

// Values upstream asserts in `from_metadata` (check_config_value): a checkpoint that differs
// describes a different architecture, which this implementation does not compute.
const REQUIRED_VALUES: Record<string, unknown> = {
  dropout: 0.0,
  attention_bias: true,
  num_vector_embeds: null,
  activation_fn: "gelu-approximate",
  num_embeds_ada_norm: 1000,
  use_linear_projection: false,
  only_cross_attention: false,
  cross_attention_norm: true,
  double_self_attention: false,
  upcast_attention: false,
  standardization_norm: "rms_norm",
  norm_elementwise_affine: false,
  qk_norm: "rms_norm",
  positional_embedding_type: "rope",
  use_audio_video_cross_attention: true,
  share_ff: false,
  av_cross_ada_norm: true,
  use_middle_indices_grid: true,
};

function configError(message: string, source: string): A2VError {
  return new A2VError("model_config_invalid", `${source}: ${message}`, {
    status: 422,
    details: [{ code: "model_config_invalid", message, file: source }],
  });
}

/**
 * Parses the transformer section of checkpoint metadata (`config.transformer`, upstream key names),
 * applying upstream's defaults for absent keys. Also accepts `LTXModel` constructor names
 * (`double_precision_rope`), as golden `config.json` files use them.
 */
export function parseTransformerConfig(
  raw: Record<string, unknown>,
  source = "transformer config",
): LtxTransformerConfig {
  // Upstream's check passes when the key is absent only if the expected value is None; emulate `dict.get`.
  for (const [key, expected] of Object.entries(REQUIRED_VALUES)) {
    if (!(key in raw)) continue;
    if (raw[key] !== expected) {
      throw configError(
        `${key} is ${JSON.stringify(raw[key])}, this model requires ${JSON.stringify(expected)}`,
        source,
      );
    }
  }
  const num = (key: string, fallback: number): number => {
    const v = raw[key];
    if (v === undefined || v === null) return fallback;
    if (typeof v !== "number" || !Number.isFinite(v)) throw configError(`${key} must be a number`, source);
    return v;
  };
  const bool = (key: string, fallback: boolean): boolean => {
    const v = raw[key];
    if (v === undefined || v === null) return fallback;
    if (typeof v !== "boolean") throw configError(`${key} must be a boolean`, source);
    return v;
  };
  const list = (key: string, fallback: number[]): number[] => {
    const v = raw[key];
    if (v === undefined || v === null) return [...fallback];
    if (!Array.isArray(v) || !v.every((x) => typeof x === "number"))
      throw configError(`${key} must be a number list`, source);
    return v as number[];
  };
  const ropeType = raw.rope_type ?? "split";
  if (ropeType !== "split")
    throw configError(`rope_type ${JSON.stringify(ropeType)} is not supported (only "split")`, source);
  const config: LtxTransformerConfig = {
    numLayers: num("num_layers", DEFAULTS.numLayers),
    numAttentionHeads: num("num_attention_heads", DEFAULTS.numAttentionHeads),
    attentionHeadDim: num("attention_head_dim", DEFAULTS.attentionHeadDim),
    inChannels: num("in_channels", DEFAULTS.inChannels),
    outChannels: num("out_channels", DEFAULTS.outChannels),
    crossAttentionDim: num("cross_attention_dim", DEFAULTS.crossAttentionDim),
    audioNumAttentionHeads: num("audio_num_attention_heads", DEFAULTS.audioNumAttentionHeads),
    audioAttentionHeadDim: num("audio_attention_head_dim", DEFAULTS.audioAttentionHeadDim),
    audioInChannels: num("audio_in_channels", DEFAULTS.audioInChannels),
    audioOutChannels: num("audio_out_channels", DEFAULTS.audioOutChannels),
    audioCrossAttentionDim: num("audio_cross_attention_dim", DEFAULTS.audioCrossAttentionDim),
    normEps: num("norm_eps", DEFAULTS.normEps),
    positionalEmbeddingTheta: num("positional_embedding_theta", DEFAULTS.positionalEmbeddingTheta),
    positionalEmbeddingMaxPos: list("positional_embedding_max_pos", DEFAULTS.positionalEmbeddingMaxPos),
    audioPositionalEmbeddingMaxPos: list("audio_positional_embedding_max_pos", DEFAULTS.audioPositionalEmbeddingMaxPos),
    timestepScaleMultiplier: num("timestep_scale_multiplier", DEFAULTS.timestepScaleMultiplier),
    avCaTimestepScaleMultiplier: num("av_ca_timestep_scale_multiplier", DEFAULTS.avCaTimestepScaleMultiplier),
    ropeType: "split",
    doublePrecisionRope: raw.frequencies_precision === "float64" || raw.double_precision_rope === true,
    useMiddleIndicesGrid: bool("use_middle_indices_grid", true),
    applyGatedAttention: bool("apply_gated_attention", false),
    crossAttentionAdaln: bool("cross_attention_adaln", false),
    usePromptAdalnSingle: bool("use_prompt_adaln_single", true),
    ffBias: bool("ff_bias", true),
    audioFfBias: bool("audio_ff_bias", true),
    captionChannels: bool("caption_proj_before_connector", false) ? null : num("caption_channels", 3840),
  };
  // Golden configs are constructor arguments: there the projection is absent unless passed.
  if ("double_precision_rope" in raw && !("caption_channels" in raw)) config.captionChannels = null;
  validateConfig(config, source);
  return config;
}

/** Parses the transformer config from a checkpoint's safetensors `__metadata__` (`config` JSON). */
export function transformerConfigFromMetadata(
  metadata: Readonly<Record<string, string>>,
  source = "checkpoint",
): LtxTransformerConfig {
  const json = metadata.config;
  if (json === undefined) throw configError("metadata has no `config` entry", source);
  let parsed: unknown;
  try {
    parsed = JSON.parse(json);
  } catch (cause) {
    throw configError(`metadata config is not JSON (${(cause as Error).message})`, source);
  }
  const transformer = (parsed as { transformer?: unknown } | null)?.transformer;
  if (transformer === null || typeof transformer !== "object")
    throw configError("metadata config has no `transformer` section", source);
  return parseTransformerConfig(transformer as Record<string, unknown>, source);
}

export function validateConfig(config: LtxTransformerConfig, source = "transformer config"): void {
  const positive = [
    "numLayers",
    "numAttentionHeads",
    "attentionHeadDim",
    "inChannels",
    "outChannels",
    "crossAttentionDim",
    "audioNumAttentionHeads",
    "audioAttentionHeadDim",
    "audioInChannels",
    "audioOutChannels",
    "audioCrossAttentionDim",
  ] as const;
  for (const key of positive) {
    if (!Number.isInteger(config[key]) || config[key] <= 0)
      throw configError(`${key} must be a positive integer`, source);
  }
  // Upstream builds the A↔V RoPE with the modality's own head count over audio_cross_attention_dim.
  if (config.numAttentionHeads !== config.audioNumAttentionHeads) {
    throw configError("num_attention_heads must equal audio_num_attention_heads (upstream requirement)", source);
  }
  if (config.positionalEmbeddingMaxPos.length !== 3)
    throw configError("positional_embedding_max_pos needs 3 entries", source);
  if (config.audioPositionalEmbeddingMaxPos.length !== 1)
    throw configError("audio_positional_embedding_max_pos needs 1 entry", source);
}

/** Derived widths used everywhere. */
export function videoInnerDim(config: LtxTransformerConfig): number {
  return config.numAttentionHeads * config.attentionHeadDim;
}
export function audioInnerDim(config: LtxTransformerConfig): number {
  return config.audioNumAttentionHeads * config.audioAttentionHeadDim;
}
/** AdaLN rows per block: 6, plus 3 with cross-attention AdaLN (LTX-2.3). */
export function adalnRows(config: LtxTransformerConfig): number {
  return config.crossAttentionAdaln ? 9 : 6;
}
