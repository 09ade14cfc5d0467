import { availableParallelism } from "node:os";
import { A2VError } from "@a2v/errors";
import { DatasetErrorCodes } from "./codes.js";
import type { ArchiveCaps, DownloadLimits, LoadDatasetOptions, MediaLimits } from "./types.js";

const GiB = 1024 ** 3;

export const DEFAULT_CAPS: Readonly<ArchiveCaps> = Object.freeze({
  maxArchiveBytes: 10 * GiB,
  maxEntries: 20_000,
  maxEntryBytes: 2 * GiB,
  maxTotalBytes: 20 * GiB,
  // Deflate tops out near 1032:1; real media barely compresses, so 200:1 on a multi-megabyte
  // entry only happens with padding or a bomb.
  maxCompressionRatio: 200,
  ratioFloorBytes: 1024 * 1024,
  // Over the whole archive: media datasets barely compress (WAV silence is the exception, and its
  // groups carry video too); 600 MiB of zeros in a 2 MB zip is a bomb.
  maxArchiveCompressionRatio: 50,
  archiveRatioFloorBytes: 64 * 1024 * 1024,
});

export const DEFAULT_MEDIA_LIMITS: Readonly<MediaLimits> = Object.freeze({
  maxMediaSeconds: 600,
  maxVideoFrames: 36_000,
  maxPixels: 40_000_000,
  maxCorruptFiles: 20,
  probeTimeoutMs: 60_000,
});

/** Default probe concurrency ceiling: each ffprobe may hold one decoded picture (up to `maxPixels` x 4 bytes). */
export const MAX_DEFAULT_PROBE_CONCURRENCY = 4;
/** Hard ceiling on `probeConcurrency`, whatever the caller asks. */
export const MAX_PROBE_CONCURRENCY = 16;
export const DEFAULT_FRAME_RATE = 24;

export const DEFAULT_DOWNLOAD_LIMITS: Readonly<DownloadLimits> = Object.freeze({
  connectTimeoutMs: 15_000,
  readTimeoutMs: 60_000,
  headersTimeoutMs: 60_000,
  maxRedirects: 5,
  deadlineMs: 60 * 60_000,
  minBytesPerSecond: 32 * 1024,
  rateWindowMs: 30_000,
});

export const DEFAULT_NUMBER_OF_FRAMES = 89;
export const MIN_NUMBER_OF_FRAMES = 9;
export const MAX_NUMBER_OF_FRAMES = 121;

/** The service accepts 9..121 and snaps other counts down to the nearest 8k+1. */
export function snapNumberOfFrames(frames: number): number {
  if (!Number.isInteger(frames) || frames < MIN_NUMBER_OF_FRAMES || frames > MAX_NUMBER_OF_FRAMES) {
    throw new A2VError(
      DatasetErrorCodes.invalidOption,
      `number_of_frames must be an integer in ${MIN_NUMBER_OF_FRAMES}..${MAX_NUMBER_OF_FRAMES}, got ${frames}`,
      {
        status: 422,
        details: [{ code: DatasetErrorCodes.invalidOption, path: ["number_of_frames"], message: "out of range" }],
      },
    );
  }
  return Math.floor((frames - 1) / 8) * 8 + 1;
}

export interface ResolvedOptions {
  triggerPhrase: string;
  numberOfFrames: number;
  autoScaleInput: boolean;
  frameRate: number;
  caps: ArchiveCaps;
  limits: MediaLimits;
  download: DownloadLimits;
  allowPrivateNetwork: boolean;
  extractTo: string | undefined;
  probeConcurrency: number;
  onProgress: (event: Parameters<NonNullable<LoadDatasetOptions["onProgress"]>>[0]) => void;
}

export function resolveOptions(options: LoadDatasetOptions = {}): ResolvedOptions {
  const caps = nonNegative("caps", { ...DEFAULT_CAPS, ...definedOnly(options.caps) });
  const limits = nonNegative("limits", { ...DEFAULT_MEDIA_LIMITS, ...definedOnly(options.limits) });
  const download = nonNegative("download", { ...DEFAULT_DOWNLOAD_LIMITS, ...definedOnly(options.download) });
  const frameRate = options.frameRate ?? DEFAULT_FRAME_RATE;
  if (!(typeof frameRate === "number" && frameRate > 0 && Number.isFinite(frameRate))) {
    throw invalidOption(`frameRate must be a positive number, got ${frameRate}`);
  }
  const concurrency = options.probeConcurrency ?? Math.min(availableParallelism(), MAX_DEFAULT_PROBE_CONCURRENCY);
  return {
    triggerPhrase: (options.triggerPhrase ?? "").trim(),
    numberOfFrames: snapNumberOfFrames(options.numberOfFrames ?? DEFAULT_NUMBER_OF_FRAMES),
    autoScaleInput: options.autoScaleInput ?? false,
    frameRate,
    caps,
    limits,
    download,
    allowPrivateNetwork: options.allowPrivateNetwork ?? false,
    extractTo: options.extractTo,
    probeConcurrency: Math.min(MAX_PROBE_CONCURRENCY, Math.max(1, Math.floor(concurrency))),
    onProgress: options.onProgress ?? (() => {}),
  };
}

function nonNegative<T extends object>(group: string, values: T): T {
  for (const [key, value] of Object.entries(values)) {
    if (!(typeof value === "number" && value >= 0)) {
      throw invalidOption(`${group}.${key} must be a non-negative number, got ${value}`);
    }
  }
  return values;
}

function invalidOption(message: string): A2VError {
  return new A2VError(DatasetErrorCodes.invalidOption, message, {
    status: 422,
    details: [{ code: DatasetErrorCodes.invalidOption, message }],
  });
}

export function definedOnly<T extends object>(value: T | undefined): Partial<T> {
  return Object.fromEntries(Object.entries(value ?? {}).filter(([, v]) => v !== undefined)) as Partial<T>;
}
