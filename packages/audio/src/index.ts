export { type DecodeAudioOptions, type DecodedAudio, decodeAudio } from "./decode.js";
export {
  DEMUXER_BY_EXTENSION,
  demuxerFor,
  formatMatchesExtension,
  pinnedInput,
  SAFE_DEMUXERS,
} from "./demuxer.js";
export { type EncodeAudioOptions, encodeAudio } from "./encode.js";
export { FfmpegFailure, type MediaTool, type MediaTools, mediaTools, runFfmpeg, type ToolSource } from "./ffmpeg.js";
export { type FitToDurationOptions, fitToDuration, samplesForDuration } from "./fit.js";
export { type AudioFitReport, type AudioFitRequest, fitAudioFile, MAX_FIT_SAMPLES } from "./fit-file.js";
export {
  fftWindow,
  LTX_MEL_CONFIG,
  linearMelSpectrogram,
  ltxAudioFeatures,
  type MelConfig,
  type MelSpectrogram,
  melFilterbank,
  melFrameCount,
  melSpectrogram,
  toLtxStereo,
} from "./mel.js";
export {
  DEFAULT_SILENCE_THRESHOLD,
  DEFAULT_TARGET_DBFS,
  type PeakNormalizeOptions,
  type PeakNormalizeResult,
  peakNormalize,
} from "./normalize.js";
export { frameCount, fromDbfs, mixToMono, type Pcm, peakOf, toDbfs } from "./pcm.js";
export { type AudioProbe, MAX_SAMPLE_RATE, probeAudio } from "./probe.js";
export { type ResampleOptions, resample } from "./resample.js";
export { type TimeStretchOptions, timeStretch } from "./wsola.js";
