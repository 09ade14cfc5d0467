/**
 * `@a2v/ltx-model`: the LTX-2.3 audio-video model — the transformer (`LtxTransformer`, `ltxForward`), the video
 * VAE, the audio VAE encoder, Gemma 3 and the text connectors, LoRA, and opening a model from its files. Weight
 * files are in `@a2v/ltx-model/weights`, golden-tensor verification in `@a2v/ltx-model/parity`.
 */
export {
  type AudioVaeEncoderConfig,
  audioLatentDownsample,
  audioVaeEncoderConfig,
  audioVaeEncoderConfigFromMetadata,
} from "./audio-vae/config.js";
export { AudioEncoder } from "./audio-vae/encoder.js";
export { audioEncoderInput } from "./audio-vae/features.js";
export { type AudioEncoderLayout, audioEncoderLayout, audioEncoderParameters } from "./audio-vae/layout.js";
export { type LoadedAudioEncoder, loadAudioEncoder } from "./audio-vae/load.js";
export { audioTimingFor, audioTokens } from "./audio-vae/tokens.js";
export {
  adalnRows,
  audioInnerDim,
  LTX_23_22B,
  LTX_TINY,
  type LtxTransformerConfig,
  PRESETS,
  type PresetName,
  parseTransformerConfig,
  preset,
  transformerConfigFromMetadata,
  validateConfig,
  videoInnerDim,
} from "./config.js";
export {
  type DescribeOptions,
  describe,
  formatDescription,
  LTX_23_TEXT_PATH,
  type ModelDescription,
  type TextPathConfig,
  textPathParameters,
  type WeightDType,
} from "./describe.js";
export {
  type RopeTables,
  ropeFrequencyGrid,
  scaleTimesteps,
  splitRopeTables,
  TIMESTEP_FEATURES,
  timestepSinusoid,
} from "./embeddings.js";
export {
  ATTENTION_MODULES,
  type AttentionModuleName,
  type AttentionShape,
  attentionShape,
  isBlockLinear,
  numel,
  type ParameterSpec,
  transformerParameters,
  type WeightMode,
} from "./layout.js";
export {
  DEFAULT_LORA,
  DEFAULT_LORA_TARGETS,
  initLoraWeights,
  type LoraConfig,
  type LoraTarget,
  loraKeyA,
  loraKeyB,
  loraParameterCount,
  loraScale,
  loraTargets,
  matchesTarget,
} from "./lora.js";
export {
  LORA_KEY_PREFIX,
  type LoadedLora,
  type LoraTensors,
  loadLoraFile,
  loraTrainingState,
  type SaveLoraOptions,
  saveLoraFile,
} from "./lora-file.js";
export { type AttentionKernel, LtxTransformer, type LtxTransformerOptions } from "./ltx-transformer.js";
export { type LtxModel, type LtxModelPaths, openLtxModel } from "./model/open.js";
export { ensureTinyModel, TINY_MODEL_VERSION } from "./model/tiny.js";
export {
  AUDIO_TIMING,
  type AudioTiming,
  audioLatentFrames,
  audioPositions,
  patchifyAudio,
  patchifyVideo,
  unpatchifyAudio,
  unpatchifyVideo,
  VIDEO_SCALE_FACTORS,
  type VideoLatentGrid,
  type VideoScaleFactors,
  videoPatchGridBounds,
  videoPixelPositions,
  videoPositions,
  videoTokenCount,
} from "./positions.js";
export { CaptionCache, type CaptionFeatures } from "./text/caption-cache.js";
export {
  type ConnectorConfig,
  type TextConnectorsConfig,
  textConnectorsConfig,
  textConnectorsConfigFromMetadata,
} from "./text/config.js";
export { type CaptionEncoder, encodeCaption } from "./text/encode-captions.js";
export { type GemmaConfig, gemmaConfig, gemmaRopeTables } from "./text/gemma/config.js";
export { Gemma, gemmaKeyAllowed } from "./text/gemma/gemma.js";
export { GemmaPromptTokenizer, type TokenizedPrompts } from "./text/gemma/tokenizer.js";
export { GEMMA_KEY_LAYOUTS, gemmaParameters, openShardedWeights } from "./text/gemma/weights.js";
export { EMBEDDINGS_PROCESSOR_KEY_LAYOUTS, embeddingsProcessorParameters } from "./text/layout.js";
export { loadEmbeddingsProcessor } from "./text/load.js";
export {
  additiveMask,
  connectorRope,
  rightPadOrder,
  type TextContexts,
  TextPath,
  type TextTrace,
} from "./text/text-path.js";
export {
  type ActiveLora,
  type ForwardOptions,
  ltxForward,
  type ModalityInput,
  type Perturbations,
} from "./transformer.js";
export {
  type LatentLogVar,
  LTX23_VAE,
  type VaeBlockSpec,
  type VideoVaeConfig,
  videoScaleFactors,
  videoVaeConfig,
  videoVaeConfigFromMetadata,
} from "./vae/config.js";
export { decodedToUnitRgb, unitRgbToFrames, videoFromRgbFrames } from "./vae/frames.js";
export {
  type ConvSpec,
  layoutParameters,
  type VaeLayout,
  type VaeStage,
  videoDecoderLayout,
  videoEncoderLayout,
  videoVaeKeyLayouts,
} from "./vae/layout.js";
export { type LoadedVideoVae, loadVideoVae } from "./vae/load.js";
export { type DecodeMemoryPlan, planDecodeMemory, planVideoVaeMemory, type VaeMemoryPlan } from "./vae/memory.js";
export { fromHost, type TensorTrace, toHost } from "./vae/tensors.js";
export { DEFAULT_SPATIAL_TILING, runSpatialTiles, type SpatialTiling, tileStarts } from "./vae/tiling.js";
export { VideoVae } from "./vae/video-vae.js";
