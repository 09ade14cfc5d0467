export { DEFAULT_TEMPORAL_TILING, decodeTiledInTime, type TemporalTiling } from "./decode.js";
export { type PreviewFlops, type PreviewFlopsOptions, previewFlops } from "./flops.js";
export { registerLora } from "./lora.js";
export {
  CONDITIONING_CHANNELS,
  CONDITIONING_SAMPLE_RATE,
  type ConditioningAudioOptions,
  conditioningAudio,
  type FetchMediaOptions,
  fetchMedia,
  MAX_VALIDATION_MEDIA_BYTES,
  writePreviewMp4,
} from "./media.js";
export {
  DEFAULT_REEL_FONT,
  type MediaInfo,
  makeReel,
  probeMediaInfo,
  type ReelOptions,
  type ReelPreview,
} from "./reel.js";
export {
  OFFICIAL_VALIDATION,
  type PreviewResult,
  type SampleCallOptions,
  stgBlockFor,
  VALIDATION_STREAM,
  type ValidationRequest,
  ValidationSampler,
  type ValidationSamplerOptions,
  type ValidationStepEvent,
} from "./sampler.js";
