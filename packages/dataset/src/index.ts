export { printable } from "@a2v/errors";
export { isNonPublicAddress } from "./address-guard.js";
export { applyTriggerPhrase, decodeCaption } from "./caption.js";
export {
  type DatasetErrorCode,
  DatasetErrorCodes,
  type DatasetWarningCode,
  DatasetWarningCodes,
} from "./codes.js";
export { type DownloadRequest, downloadToFile, redactUrl } from "./download.js";
export { decodeCp437, decodeEntryName, printableError } from "./entry-names.js";
export { formatManifest } from "./format.js";
export { loadDataset } from "./load.js";
export { type Classification, classifyPath, type Role } from "./naming.js";
export {
  DEFAULT_CAPS,
  DEFAULT_DOWNLOAD_LIMITS,
  DEFAULT_FRAME_RATE,
  DEFAULT_MEDIA_LIMITS,
  DEFAULT_NUMBER_OF_FRAMES,
  snapNumberOfFrames,
} from "./options.js";
export * from "./preprocess/index.js";
export { decodeStartImage, type StartImageOptions } from "./preprocess/video.js";
export { type ProbeMediaOptions, probeMedia } from "./probe.js";
export {
  childProcessIds,
  createRunDir,
  installSignalCleanup,
  liveRunDirs,
  RUN_DIR_PREFIX,
  removeRunDir,
  type SignalCleanupOptions,
  sweepStaleRunDirs,
} from "./run-dir.js";
export type {
  ArchiveCaps,
  AudioStreamInfo,
  DatasetFile,
  DatasetGroup,
  DatasetIssue,
  DatasetManifest,
  DatasetProgress,
  DownloadLimits,
  LoadDatasetOptions,
  MediaLimits,
  MediaProbe,
  StartKind,
  VideoStreamInfo,
} from "./types.js";
