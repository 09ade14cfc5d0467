export { loadModelAudioEncoder, loadModelVideoVae, type PromptContexts, PromptEncoder } from "./encode/encoders.js";
export { LatentCache } from "./encode/latent-cache.js";
export { CAPTION_MAX_TOKENS, type EncodableSample, SampleEncoder } from "./encode/sample-encoder.js";
export {
  eulerStep,
  type GuidancePredictions,
  type GuidanceResult,
  type GuidanceScales,
  guide,
  stdAll,
  x0FromVelocity,
} from "./guidance.js";
export * from "./loop/index.js";
export {
  type TrainingConfigFile,
  type TrainingConfigInput,
  trainingConfigFile,
  writeTrainingConfigFile,
} from "./outputs.js";
export { runScheduleParity, SCHEDULE_TOLERANCE } from "./parity.js";
export { createRng, type Rng } from "./random.js";
export { ltx2Sigmas, type SigmaScheduleOptions, tokenShift } from "./schedules.js";
export {
  type A2VPreparedStep,
  type A2VStepData,
  type A2VStepOptions,
  type A2VStepResult,
  a2vLoss,
  a2vStep,
  a2vStepLoss,
  prepareA2VStep,
} from "./strategy.js";
export {
  ShiftedLogitNormalSampler,
  type TimestepDraw,
  type TimestepSamplerOptions,
} from "./timestep-sampler.js";
export {
  compareForward,
  compareGradient,
  FORWARD_TOLERANCE,
  formatTransformerParity,
  GRADIENT_TOLERANCE,
  runTransformerParity,
  TRANSFORMER_PARITY_KINDS,
  type TransformerParityReport,
  type TransformerParityRow,
} from "./transformer-parity.js";
export * from "./validation/index.js";
