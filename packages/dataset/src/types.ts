import type { DatasetErrorCode, DatasetWarningCode } from "./codes.js";

/** Limits that keep a hostile or oversized archive from exhausting disk, memory or time. */
export interface ArchiveCaps {
  /** Largest archive accepted, downloaded or local (bytes). */
  maxArchiveBytes: number;
  /** Most entries in the zip's central directory (files, folders and ignored files included). */
  maxEntries: number;
  /** Largest uncompressed size of one entry (bytes). */
  maxEntryBytes: number;
  /** Largest sum of uncompressed sizes over all entries (bytes). */
  maxTotalBytes: number;
  /** Largest uncompressed/compressed ratio, checked on entries above `ratioFloorBytes`. */
  maxCompressionRatio: number;
  /** Entries at most this large are exempt from the ratio check (tiny files compress oddly). */
  ratioFloorBytes: number;
  /**
   * Largest uncompressed/compressed ratio of the archive as a whole (all entries summed), checked once
   * the archive expands past `archiveRatioFloorBytes`: many small entries each under the per-entry floor
   * are a bomb too.
   */
  maxArchiveCompressionRatio: number;
  /** Archives expanding to at most this many bytes are exempt from the archive-level ratio check. */
  archiveRatioFloorBytes: number;
}

/** Bounds on what one media file may cost to probe and preprocess. */
export interface MediaLimits {
  /** Longest audio or video accepted (seconds, from the container header). */
  maxMediaSeconds: number;
  /** Most frames in one video (packets counted, never more than this plus one). */
  maxVideoFrames: number;
  /** Most pixels in a picture or a video frame (width x height), checked before decoding. */
  maxPixels: number;
  /** Stop probing (and reject) after this many refused media files (unreadable, or over a limit). */
  maxCorruptFiles: number;
  /** Time one ffprobe run may take (ms). */
  probeTimeoutMs: number;
}

/** HTTP download limits. */
export interface DownloadLimits {
  /** Time allowed to open the TCP (and TLS) connection, per hop (ms). */
  connectTimeoutMs: number;
  /** Longest silence while waiting for headers or body bytes (ms). */
  readTimeoutMs: number;
  /** Time the status line and headers of one hop may take in all, however they trickle in (ms). */
  headersTimeoutMs: number;
  /** Most redirects followed. */
  maxRedirects: number;
  /** Time the whole download may take, every hop, headers and body included (ms). */
  deadlineMs: number;
  /** Slowest average body rate accepted, measured over `rateWindowMs` once that long has passed (bytes/s). */
  minBytesPerSecond: number;
  /** Window of the minimum-rate check (ms). */
  rateWindowMs: number;
}

/** Progress of the long phases; `total` is absent when unknown (no Content-Length). */
export type DatasetProgress =
  | { phase: "download"; bytes: number; totalBytes?: number }
  | { phase: "extract"; done: number; total: number; file: string }
  | { phase: "probe"; done: number; total: number; file: string };

export interface LoadDatasetOptions {
  /** Service `trigger_phrase`: prepended to captions; makes caption files optional. Default "". */
  triggerPhrase?: string;
  /** Service `number_of_frames` (9..121, snapped down to 8k+1). Default 89. */
  numberOfFrames?: number;
  /** Service `auto_scale_input`: keep targets shorter than `numberOfFrames` (they are resampled). Default false. */
  autoScaleInput?: boolean;
  /** Service `frame_rate`: target lengths are judged in frames at this rate, as preprocessing resamples them. Default 24. */
  frameRate?: number;
  /** Media bounds; each one overrides its default. */
  limits?: Partial<MediaLimits>;
  /** Archive caps; each one overrides its default. */
  caps?: Partial<ArchiveCaps>;
  /** Download limits; each one overrides its default. */
  download?: Partial<DownloadLimits>;
  /**
   * Allow URLs that resolve to loopback, private, link-local or other non-public addresses.
   * Off by default (server-side request forgery guard); tests and local tools opt in.
   */
  allowPrivateNetwork?: boolean;
  /**
   * Keep the extracted dataset files in this directory (created if missing, must be empty) and
   * report them as `localPath`. Without it everything is extracted to a temp dir that is removed
   * before `loadDataset` returns.
   */
  extractTo?: string;
  /**
   * Parent of this run's temp folder (`a2v-run-<host>-<pid>-XXXXXX`, removed before returning). Default
   * the OS temp dir. Folders of dead runs of this host found there are swept at start.
   */
  tempDir?: string;
  /** Parallel ffprobe processes. Default: the number of available CPUs, at most 4 (each may hold a decoded picture). */
  probeConcurrency?: number;
  /** Called during download, extraction and probing. */
  onProgress?: (event: DatasetProgress) => void;
}

/** A problem or a warning, tied to a group and/or a file inside the archive when it is about one. */
export interface DatasetIssue<Code extends string = DatasetErrorCode | DatasetWarningCode> {
  code: Code;
  message: string;
  group?: string;
  /** Path inside the archive. */
  file?: string;
}

export interface VideoStreamInfo {
  codec: string;
  /** Display size (rotation applied). */
  width: number;
  height: number;
  /** Average frame rate; 0 when the container does not say. */
  fps: number;
  /** Frame count from the container index or a packet count; estimated from duration when neither exists. */
  frames: number;
  durationSec: number;
}

export interface AudioStreamInfo {
  codec: string;
  sampleRate: number;
  channels: number;
  durationSec: number;
}

/** What ffprobe says about one media file. */
export interface MediaProbe {
  /** ffprobe `format_name`, e.g. "mov,mp4,m4a,3gp,3g2,mj2", "png_pipe", "wav". */
  container: string;
  durationSec: number;
  /** First video stream that is not cover art; for still images, the picture. */
  video?: VideoStreamInfo;
  /** First audio stream. */
  audio?: AudioStreamInfo;
}

export type StartKind = "image" | "video";

/** One file of a group. */
export interface DatasetFile {
  /** Path inside the archive. */
  archivePath: string;
  /** Uncompressed size in bytes. */
  bytes: number;
  /** On-disk path, only when `extractTo` was given. */
  localPath?: string;
  probe: MediaProbe;
}

export interface DatasetGroup {
  /** Base name shared by the group's files. */
  name: string;
  start: DatasetFile & { kind: StartKind };
  /** Separate `_audio` file; absent when the audio comes from the `_start` video. */
  audio?: DatasetFile;
  /** Where the conditioning audio comes from. */
  audioSource: "audio_file" | "start_video";
  /** The `_end` video. */
  target: DatasetFile;
  /** The target's frames at the training `frameRate` (what preprocessing gets after resampling). */
  targetFrames: number;
  /** Path of the caption file inside the archive, when there is one. */
  captionFile?: string;
  /** Final caption: trigger phrase prepended (once), or the trigger phrase alone without a caption file. */
  caption: string;
  /** "skipped": the target is shorter than `numberOfFrames` with `autoScaleInput` off. */
  status: "ok" | "skipped";
  skipReason?: "target_too_short";
}

export interface DatasetManifest {
  /** The source as given (URL credentials and query removed). */
  source: string;
  archive: {
    bytes: number;
    entries: number;
  };
  /** The effective options (`numberOfFrames` after snapping). */
  options: { triggerPhrase: string; numberOfFrames: number; autoScaleInput: boolean; frameRate: number };
  /** Groups sorted by name. */
  groups: DatasetGroup[];
  counts: { groups: number; ok: number; skipped: number };
  warnings: DatasetIssue<DatasetWarningCode>[];
  /** Archive paths not used: unknown files (warned) and OS metadata (silently). */
  ignored: string[];
  /** Directory holding the extracted files, when `extractTo` was given. */
  root?: string;
}
