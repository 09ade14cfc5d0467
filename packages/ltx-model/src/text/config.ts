import { A2VError } from "@a2v/errors";
import { metadataSection } from "../vae/config.js";

/** One embeddings connector (`Embeddings1DConnector`). */
export interface ConnectorConfig {
  heads: number;
  headDim: number;
  layers: number;
  theta: number;
  maxPos: number[];
  /** `frequencies_precision: "float64"`: the RoPE frequency grid is built in float64, then cast. */
  doublePrecisionRope: boolean;
  gatedAttention: boolean;
  ffBias: boolean;
}

/** The LTX-2.3 text path after Gemma: feature extractor V2 and the video/audio connectors. */
export interface TextConnectorsConfig {
  /** Width of the video context (transformer video inner dim). */
  videoDim: number;
  /** Width of the audio context (transformer audio inner dim). */
  audioDim: number;
  video: ConnectorConfig;
  audio: ConnectorConfig;
}

function unsupported(file: string, message: string): A2VError {
  return new A2VError("text_config_unsupported", `${file}: ${message}`, {
    status: 422,
    details: [{ code: "text_config_unsupported", message, file }],
  });
}

/** The V2 switches: LTX-2.3 projects captions before the connectors (ltx-core `_V2_EXPECTED_CONFIG`). */
const V2_EXPECTED: Record<string, unknown> = {
  caption_proj_before_connector: true,
  caption_projection_first_linear: false,
  caption_proj_input_norm: false,
  caption_projection_second_linear: false,
};

/**
 * Reads the connector settings from `config.transformer` with upstream's defaults
 * (`Embeddings1DConnectorConfigurator`, `AudioEmbeddings1DConnectorConfigurator`).
 */
export function textConnectorsConfig(transformer: Record<string, unknown>, file = "checkpoint"): TextConnectorsConfig {
  for (const [key, value] of Object.entries(V2_EXPECTED)) {
    if (transformer[key] !== value) {
      throw unsupported(
        file,
        `config.transformer.${key} is ${String(transformer[key])}; the LTX-2.3 (V2) text path needs ${value}`,
      );
    }
  }
  if ((transformer.rope_type ?? "split") !== "split")
    throw unsupported(file, "only split RoPE connectors are supported");
  const num = (key: string, fallback: number) => Number(transformer[key] ?? fallback);
  const shared = {
    theta: 10000,
    maxPos: (transformer.connector_positional_embedding_max_pos as number[] | undefined) ?? [1],
    doublePrecisionRope: transformer.frequencies_precision === "float64",
    gatedAttention: transformer.connector_apply_gated_attention === true,
    ffBias: transformer.connector_ff_bias !== false,
  };
  const video: ConnectorConfig = {
    ...shared,
    heads: num("connector_num_attention_heads", 30),
    headDim: num("connector_attention_head_dim", 128),
    layers: num("connector_num_layers", 2),
  };
  const audio: ConnectorConfig = {
    ...shared,
    heads: num("audio_connector_num_attention_heads", video.heads),
    headDim: num("audio_connector_attention_head_dim", video.headDim),
    layers: num("audio_connector_num_layers", video.layers),
  };
  if (shared.maxPos.length !== 1) throw unsupported(file, "connector RoPE must be 1-D (one max position)");
  const videoDim = num("num_attention_heads", 32) * num("attention_head_dim", 128);
  const audioDim = num("audio_num_attention_heads", 32) * num("audio_attention_head_dim", 64);
  if (videoDim !== video.heads * video.headDim || audioDim !== audio.heads * audio.headDim) {
    throw unsupported(file, "connector widths differ from the transformer's video/audio inner dims");
  }
  return { videoDim, audioDim, video, audio };
}

export function textConnectorsConfigFromMetadata(
  metadata: Readonly<Record<string, string>>,
  file: string,
): TextConnectorsConfig {
  return textConnectorsConfig(metadataSection(metadata, "transformer", file), file);
}
