import { A2VError } from "@a2v/errors";

/** Gemma 3's text decoder, as its `config.json` (`text_config` for the multimodal checkpoints) describes it. */
export interface GemmaConfig {
  vocabSize: number;
  hiddenSize: number;
  intermediateSize: number;
  numLayers: number;
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  rmsNormEps: number;
  /** Global layers: base and linear scaling factor (12B: 1e6 and 8). */
  ropeTheta: number;
  ropeScaling: number;
  /** Sliding-window layers: base (1e4), no scaling. */
  ropeLocalTheta: number;
  slidingWindow: number;
  /** Per layer: true when the layer attends within the sliding window only. */
  sliding: boolean[];
  /** Attention scores are scaled by queryPreAttnScalar^-1/2. */
  queryPreAttnScalar: number;
}

function invalid(file: string, message: string): A2VError {
  return new A2VError("gemma_config_invalid", `${file}: ${message}`, {
    status: 422,
    details: [{ code: "gemma_config_invalid", message, file }],
  });
}

/** Reads a Gemma 3 `config.json` (or its `text_config`) with the transformers defaults that matter here. */
export function gemmaConfig(json: Record<string, unknown>, file = "config.json"): GemmaConfig {
  const c = (json.text_config ?? json) as Record<string, unknown>;
  const need = (key: string): number => {
    const v = c[key];
    if (typeof v !== "number") throw invalid(file, `${key} is missing`);
    return v;
  };
  const numLayers = need("num_hidden_layers");
  const pattern = Number(c.sliding_window_pattern ?? 6);
  const layerTypes = c.layer_types as string[] | undefined;
  const sliding = layerTypes
    ? layerTypes.map((t) => t === "sliding_attention")
    : Array.from({ length: numLayers }, (_, i) => (i + 1) % pattern !== 0);
  if (sliding.length !== numLayers)
    throw invalid(file, `layer_types has ${sliding.length} entries for ${numLayers} layers`);
  const scaling = c.rope_scaling as { rope_type?: string; type?: string; factor?: number } | null | undefined;
  const scalingType = scaling?.rope_type ?? scaling?.type;
  if (scaling && scalingType !== "linear")
    throw invalid(file, `rope_scaling type ${String(scalingType)} is not supported`);
  if (typeof c.attn_logit_softcapping === "number") {
    throw invalid(file, "attention logit soft-capping is not supported (Gemma 3 has none)");
  }
  const headDim = Number(c.head_dim ?? 256);
  return {
    vocabSize: need("vocab_size"),
    hiddenSize: need("hidden_size"),
    intermediateSize: need("intermediate_size"),
    numLayers,
    numHeads: need("num_attention_heads"),
    numKvHeads: Number(c.num_key_value_heads ?? c.num_attention_heads),
    headDim,
    rmsNormEps: Number(c.rms_norm_eps ?? 1e-6),
    ropeTheta: Number(c.rope_theta ?? 1e6),
    ropeScaling: scaling?.factor ?? 1,
    ropeLocalTheta: Number(c.rope_local_base_freq ?? 1e4),
    slidingWindow: Number(c.sliding_window ?? 4096),
    sliding,
    queryPreAttnScalar: Number(c.query_pre_attn_scalar ?? headDim),
  };
}

/** RoPE tables [T, headDim/2] (cos, sin) for positions 0..T-1: inv_freq = 1 / (θ^(2i/d) · scaling). */
export function gemmaRopeTables(
  config: GemmaConfig,
  seqLen: number,
  sliding: boolean,
): { cos: Float32Array; sin: Float32Array } {
  const half = config.headDim / 2;
  const theta = sliding ? config.ropeLocalTheta : config.ropeTheta;
  const factor = sliding ? 1 : config.ropeScaling;
  const cos = new Float32Array(seqLen * half);
  const sin = new Float32Array(seqLen * half);
  for (let i = 0; i < half; i++) {
    // transformers computes inv_freq in float32, then position·inv_freq in float32.
    const inv = Math.fround(Math.fround(1 / theta ** Math.fround((2 * i) / config.headDim)) / factor);
    for (let t = 0; t < seqLen; t++) {
      const angle = Math.fround(t * inv);
      cos[t * half + i] = Math.cos(angle);
      sin[t * half + i] = Math.sin(angle);
    }
  }
  return { cos, sin };
}
