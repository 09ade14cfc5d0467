export { type A2VPreparedStep, type A2VStepData, a2vLoss, prepareA2VStep } from "./a2v-step.js";
export type { Backend } from "./backend.js";
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
  numel,
  type ParameterSpec,
  transformerParameters,
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
export { CpuBackend, CpuTensor } from "./reference/cpu-backend.js";
export {
  type ActiveLora,
  type ForwardOptions,
  ltxForward,
  type ModalityInput,
  type Perturbations,
} from "./transformer.js";
export {
  canonicalTransformerKey,
  type LoadReport,
  MemoryWeights,
  mapTensors,
  TRANSFORMER_KEY_PREFIXES,
  TransformerCheckpoint,
  type WeightSource,
} from "./weights/checkpoint.js";
export {
  bf16BitsToF32,
  DTYPE_BYTES,
  decodeToFloat32,
  encodeFloats,
  f8e4m3ToF32,
  f8e5m2ToF32,
  f16BitsToF32,
  f32ToBf16Bits,
  f32ToF16Bits,
  type SafetensorsDType,
} from "./weights/dtypes.js";
export {
  encodeSafetensors,
  parseSafetensorsHeader,
  SafetensorsFile,
  type SafetensorsHeader,
  type TensorEntry,
  type TensorToWrite,
  writeSafetensors,
} from "./weights/safetensors.js";
