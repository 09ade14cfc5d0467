export {
  formatPreprocessSummary,
  groupsFromManifest,
  type ManifestLike,
  type PreprocessOptions,
  type PreprocessProgress,
  type PreprocessSummary,
  preprocess,
} from "./preprocess.js";
export { preprocessSamples, type SampleStreamOptions } from "./stream.js";
export type {
  GroupReport,
  PreprocessGroup,
  PreprocessWarning,
  PreprocessWarningCode,
  SampleInfo,
  SampleOptions,
  TrainingSample,
  WindowMode,
} from "./types.js";
export type { Bucket } from "./video.js";
