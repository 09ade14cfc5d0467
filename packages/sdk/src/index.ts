export { snapNumberOfFrames } from "@a2v/dataset";
export { A2VError, type A2VErrorDetail, isA2VError } from "@a2v/errors";
export { type Bill, billing, failedBill, MIN_UNITS, USD_PER_UNIT } from "./billing.js";
export { type Bucket, resolutionFor } from "./buckets.js";
export { A2V, EXIT, runCli } from "./cli.js";
export { AUDIO_FIT_USAGE } from "./cli-audio.js";
export {
  type CliCommand,
  type CliOut,
  type CliProgram,
  processOut,
  programUsage,
  runProgram,
  usageError,
} from "./cli-io.js";
export { type DoctorReport, doctor, formatDoctor } from "./doctor.js";
export {
  ASPECT_RATIOS,
  type AspectRatio,
  DEFAULT_VALIDATION_NEGATIVE_PROMPT,
  parseTrainInput,
  RANKS,
  RESOLUTIONS,
  type Resolution,
  type TrainInput,
  type TrainInputRaw,
  TrainInputSchema,
  trainInputJsonSchema,
  ValidationSampleSchema,
} from "./input.js";
export { formatParity, PARITY_KINDS, type ParityLine, type ParityResult, runParity } from "./parity.js";
export { TRAIN_STAGES, type TrainEvent, type TrainStage } from "./train/events.js";
export {
  defaultCacheDir,
  type TrainJob,
  type TrainMetrics,
  type TrainOptions,
  type TrainResult,
  train,
} from "./train/train.js";
