import { availableParallelism } from "node:os";
import { A2VError } from "@a2v/errors";
import { DatasetErrorCodes } from "./codes.js";
import type { ArchiveCaps, DownloadLimits, LoadDatasetOptions } from "./types.js";

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
});

export const DEFAULT_DOWNLOAD_LIMITS: Readonly<DownloadLimits> = Object.freeze({
  connectTimeoutMs: 15_000,
  readTimeoutMs: 60_000,
  maxRedirects: 5,
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
  caps: ArchiveCaps;
  download: DownloadLimits;
  allowPrivateNetwork: boolean;
  extractTo: string | undefined;
  probeConcurrency: number;
  onProgress: (event: Parameters<NonNullable<LoadDatasetOptions["onProgress"]>>[0]) => void;
}

export function resolveOptions(options: LoadDatasetOptions = {}): ResolvedOptions {
  const caps = { ...DEFAULT_CAPS, ...definedOnly(options.caps) };
  for (const [key, value] of Object.entries(caps)) {
    if (!(typeof value === "number" && value >= 0)) {
      throw new A2VError(DatasetErrorCodes.invalidOption, `caps.${key} must be a non-negative number, got ${value}`, {
        status: 422,
      });
    }
  }
  return {
    triggerPhrase: (options.triggerPhrase ?? "").trim(),
    numberOfFrames: snapNumberOfFrames(options.numberOfFrames ?? DEFAULT_NUMBER_OF_FRAMES),
    autoScaleInput: options.autoScaleInput ?? false,
    caps,
    download: { ...DEFAULT_DOWNLOAD_LIMITS, ...definedOnly(options.download) },
    allowPrivateNetwork: options.allowPrivateNetwork ?? false,
    extractTo: options.extractTo,
    probeConcurrency: Math.max(1, Math.floor(options.probeConcurrency ?? availableParallelism())),
    onProgress: options.onProgress ?? (() => {}),
  };
}

function definedOnly<T extends object>(value: T | undefined): Partial<T> {
  return Object.fromEntries(Object.entries(value ?? {}).filter(([, v]) => v !== undefined)) as Partial<T>;
}
