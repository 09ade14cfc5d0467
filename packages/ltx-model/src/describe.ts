import { audioInnerDim, type LtxTransformerConfig, videoInnerDim } from "./config.js";
import { isBlockLinear, numel, type ParameterSpec, transformerParameters, type WeightMode } from "./layout.js";
import { DEFAULT_LORA_TARGETS, loraParameterCount, loraTargets } from "./lora.js";
import { AUDIO_TIMING, audioLatentFrames, VIDEO_SCALE_FACTORS } from "./positions.js";

/** The LTX-2.3 text path around the DiT (V2 feature extractor + embeddings connectors). */
export interface TextPathConfig {
  /** Gemma hidden size and hidden-state count (embeddings + layers). */
  gemmaHidden: number;
  gemmaStates: number;
  connectorLayers: number;
  registers: number;
}

export const LTX_23_TEXT_PATH: TextPathConfig = {
  gemmaHidden: 3840,
  gemmaStates: 49,
  connectorLayers: 8,
  registers: 128,
};

/** How the base weights are stored (`LtxTransformer`'s `weightDType`). */
export type WeightDType = WeightMode;
const WEIGHT_MODES: readonly WeightDType[] = ["f32", "bf16", "fp8", "int8"];

/**
 * Bytes of the base weights in one mode: f32/bf16 every parameter at that size; fp8/int8 the block linears as
 * 1-byte codes plus their f32 scales (one per tensor for fp8, one per output channel for int8), the rest in bf16.
 */
function weightBytes(specs: readonly ParameterSpec[], mode: WeightDType): number {
  let bytes = 0;
  for (const spec of specs) {
    const n = numel(spec.shape);
    if (mode === "f32" || mode === "bf16") bytes += n * (mode === "f32" ? 4 : 2);
    else if (isBlockLinear(spec.key, spec.shape)) bytes += n + 4 * (mode === "fp8" ? 1 : spec.shape[0]!);
    else bytes += 2 * n;
  }
  return bytes;
}

export interface DescribeOptions {
  /** Video size in pixels and frames for the memory estimate (defaults: 960×544×89 at 24 fps). */
  width?: number;
  height?: number;
  frames?: number;
  fps?: number;
  loraRank?: number;
  loraTargets?: string[];
  /** Include the LTX-2.3 text connectors and projections in the total. */
  textPath?: TextPathConfig | null;
}

export interface ModelDescription {
  parameters: {
    video: number;
    audio: number;
    audioVideo: number;
    global: number;
    dit: number;
    text: number;
    total: number;
  };
  tokens: { video: number; audio: number };
  lora: { rank: number; modules: number; parameters: number };
  /** Bytes a LoRA training step needs per base-weight dtype (estimate, see `describe`). */
  trainingStepBytes: Record<WeightDType, { weights: number; lora: number; activations: number; total: number }>;
}

function connectorParameters(width: number, heads: number, text: TextPathConfig): number {
  const attention = 4 * (width * width + width) + 2 * width + (heads * width + heads);
  const feedForward = width * 4 * width + 4 * width + 4 * width * width + width;
  return text.connectorLayers * (attention + feedForward) + text.registers * width;
}

/** Parameters of the LTX-2.3 text side: both connectors and both aggregate projections. */
export function textPathParameters(config: LtxTransformerConfig, text: TextPathConfig): number {
  const features = text.gemmaHidden * text.gemmaStates;
  const dv = videoInnerDim(config);
  const da = audioInnerDim(config);
  return (
    connectorParameters(dv, config.numAttentionHeads, text) +
    connectorParameters(da, config.audioNumAttentionHeads, text) +
    (features * dv + dv) +
    (features * da + da)
  );
}

function sum(specs: ParameterSpec[], group?: ParameterSpec["group"]): number {
  return specs.filter((s) => group === undefined || s.group === group).reduce((n, s) => n + numel(s.shape), 0);
}

/**
 * Parameter counts and a training-step memory estimate, from the config alone (nothing allocated).
 * Memory model: frozen base weights in the given dtype; LoRA weights, grads and AdamW moments in
 * float32 (16 B/param); activations as `train()` runs a checkpoint model: every block's input kept in bf16
 * (sub-layer gradient checkpointing) plus what one block's step holds at its peak, measured on one full-width
 * 22B block (trainer `bench/block-memory.bench.ts`: ~37 float32 token-widths per token, flash attention, so no
 * T² scores).
 */
/** float32 token-widths one block's training step holds per token at its peak (measured, see `describe`). */
const STEP_TOKEN_WIDTHS = 37;

export function describe(config: LtxTransformerConfig, options: DescribeOptions = {}): ModelDescription {
  const specs = transformerParameters(config);
  const dit = sum(specs);
  const text = options.textPath ? textPathParameters(config, options.textPath) : 0;
  const width = options.width ?? 960;
  const height = options.height ?? 544;
  const frames = options.frames ?? 89;
  const fps = options.fps ?? 24;
  const latentFrames = 1 + Math.floor((frames - 1) / VIDEO_SCALE_FACTORS.time);
  const videoTokens =
    latentFrames * Math.floor(height / VIDEO_SCALE_FACTORS.height) * Math.floor(width / VIDEO_SCALE_FACTORS.width);
  const audioTokens = audioLatentFrames(frames / fps, AUDIO_TIMING);
  const rank = options.loraRank ?? 32;
  const targets = loraTargets(config, {
    rank,
    alpha: rank,
    targetModules: options.loraTargets ?? DEFAULT_LORA_TARGETS,
  });
  const loraParams = loraParameterCount(targets, rank);

  const dv = videoInnerDim(config);
  const da = audioInnerDim(config);
  const tokenWidths = videoTokens * dv + audioTokens * da;
  const checkpoints = config.numLayers * tokenWidths * 2;
  const activations = checkpoints + STEP_TOKEN_WIDTHS * tokenWidths * 4;
  const loraBytes = loraParams * 16;
  const trainingStepBytes = {} as ModelDescription["trainingStepBytes"];
  for (const dtype of WEIGHT_MODES) {
    const weights = weightBytes(specs, dtype);
    trainingStepBytes[dtype] = { weights, lora: loraBytes, activations, total: weights + loraBytes + activations };
  }
  return {
    parameters: {
      video: sum(specs, "video"),
      audio: sum(specs, "audio"),
      audioVideo: sum(specs, "audio_video"),
      global: sum(specs, "global"),
      dit,
      text,
      total: dit + text,
    },
    tokens: { video: videoTokens, audio: audioTokens },
    lora: { rank, modules: targets.length, parameters: loraParams },
    trainingStepBytes,
  };
}

const billions = (n: number) => `${(n / 1e9).toFixed(3)} B`;
const gib = (n: number) => `${(n / 2 ** 30).toFixed(2)} GiB`;

/** Human-readable form of `describe`'s result. */
export function formatDescription(d: ModelDescription): string {
  const lines = [
    `DiT parameters: ${billions(d.parameters.dit)} (video ${billions(d.parameters.video)}, audio ${billions(d.parameters.audio)}, A↔V ${billions(d.parameters.audioVideo)}, global ${billions(d.parameters.global)})`,
  ];
  if (d.parameters.text > 0)
    lines.push(`text connectors + projections: ${billions(d.parameters.text)}; total ${billions(d.parameters.total)}`);
  lines.push(`tokens per step: video ${d.tokens.video}, audio ${d.tokens.audio}`);
  lines.push(
    `LoRA rank ${d.lora.rank}: ${d.lora.modules} modules, ${(d.lora.parameters / 1e6).toFixed(1)} M parameters`,
  );
  for (const [dtype, m] of Object.entries(d.trainingStepBytes)) {
    lines.push(
      `training step, ${dtype} weights: ${gib(m.total)} (weights ${gib(m.weights)}, LoRA+AdamW ${gib(m.lora)}, activations ${gib(m.activations)})`,
    );
  }
  return lines.join("\n");
}
