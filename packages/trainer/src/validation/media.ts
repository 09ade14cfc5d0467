import { randomUUID } from "node:crypto";
import { mkdtemp, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { basename, extname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { decodeAudio, encodeAudio, type FfmpegFailure, fitToDuration, peakNormalize, runFfmpeg } from "@a2v/audio";
import { DEFAULT_DOWNLOAD_LIMITS, downloadToFile, redactUrl } from "@a2v/dataset";
import { A2VError } from "@a2v/errors";

/** Largest validation image or audio file downloaded (bytes). */
export const MAX_VALIDATION_MEDIA_BYTES = 512 * 2 ** 20;

/** Sample rate and channels of the conditioning audio: those of the training samples (`@a2v/dataset` defaults). */
export const CONDITIONING_SAMPLE_RATE = 16_000;
export const CONDITIONING_CHANNELS = 2;

function mediaUnreadable(source: string, reason: string, cause?: unknown): A2VError {
  const message = `could not read validation media ${source}: ${reason}`;
  return new A2VError("validation_media_unreadable", message, {
    status: 422,
    details: [{ code: "validation_media_unreadable", file: source, message }],
    cause,
  });
}

function parseUrl(source: string): URL | undefined {
  if (!/^[a-z][a-z0-9+.-]+:/i.test(source)) return undefined;
  try {
    return new URL(source);
  } catch {
    return undefined;
  }
}

export interface FetchMediaOptions {
  /** Where downloads land (the caller removes it). */
  workDir: string;
  /** Allow http(s) hosts that resolve to private addresses (tests, local servers). Default false. */
  allowPrivateNetwork?: boolean;
}

/**
 * A validation image or audio source as a local file: a path, a `file://` URL, or an http(s) URL downloaded with
 * `@a2v/dataset`'s downloader (private-network guard at DNS time, redirect, size and time limits). The local name
 * keeps the source's extension, which pins the demuxer that reads it.
 */
export async function fetchMedia(source: string, options: FetchMediaOptions): Promise<string> {
  const url = parseUrl(source);
  if (url && (url.protocol === "http:" || url.protocol === "https:")) {
    const ext = extname(url.pathname).toLowerCase();
    const dest = join(options.workDir, `${randomUUID()}${ext}`);
    await downloadToFile({
      url,
      dest,
      maxBytes: MAX_VALIDATION_MEDIA_BYTES,
      limits: DEFAULT_DOWNLOAD_LIMITS,
      allowPrivateNetwork: options.allowPrivateNetwork ?? false,
      onProgress: () => {},
    }).catch((cause: unknown) => {
      throw cause instanceof A2VError ? cause : mediaUnreadable(redactUrl(url), String(cause), cause);
    });
    return dest;
  }
  if (url && url.protocol !== "file:") {
    throw mediaUnreadable(source, `unsupported URL scheme ${url.protocol} (use http, https, file or a local path)`);
  }
  const path = url ? fileURLToPath(url) : resolve(source);
  const info = await stat(path).catch((cause: NodeJS.ErrnoException) => {
    throw mediaUnreadable(source, cause.code === "ENOENT" ? "no such file" : cause.message, cause);
  });
  if (!info.isFile()) throw mediaUnreadable(source, "not a regular file");
  return path;
}

export interface ConditioningAudioOptions {
  /** Peak-normalise first (training's `audio_normalize`). Default true. */
  normalize?: boolean;
  /** Fit with pitch preserved (WSOLA) instead of trim/pad (training's `audio_preserve_pitch`). Default true. */
  preservePitch?: boolean;
}

/**
 * The conditioning audio of a preview, prepared exactly as training audio is (`@a2v/dataset` preprocessing):
 * decoded to 16 kHz stereo, peak-normalised, and the whole track fitted to `seconds` (pitch kept) or trimmed/padded.
 * Exactly round(seconds · 16000) samples per channel.
 */
export async function conditioningAudio(
  file: string,
  seconds: number,
  options: ConditioningAudioOptions = {},
): Promise<Float32Array[]> {
  const preservePitch = options.preservePitch ?? true;
  const { pcm: decoded } = await decodeAudio(file, {
    sampleRate: CONDITIONING_SAMPLE_RATE,
    channels: CONDITIONING_CHANNELS,
    // Trim/pad only needs the clip's span; fitting reads the whole track (bounded like training's 600 s).
    durationSeconds: preservePitch ? 601 : seconds + 1,
  });
  if (decoded[0]!.length === 0) throw mediaUnreadable(file, "the audio has no samples");
  const pcm = (options.normalize ?? true) ? peakNormalize(decoded).pcm : decoded;
  return fitToDuration(pcm, CONDITIONING_SAMPLE_RATE, seconds, { preservePitch });
}

/**
 * Output arguments of an mp4 every browser plays: H.264 yuv420p (`video` adds encoder settings) + AAC at 48 kHz
 * (AAC pads the end to a whole 1024-sample frame: 21 ms here, 64 ms at the conditioning's 16 kHz), faststart.
 */
export function browserMp4Output(file: string, video: string[] = []): string[] {
  return [
    ...["-c:v", "libx264", ...video, "-pix_fmt", "yuv420p"],
    ...["-c:a", "aac", "-ar", "48000", "-b:a", "128k"],
    ...["-movflags", "+faststart", "-f", "mp4", `file:${file}`],
  ];
}

/**
 * Writes a preview: RGB24 frames at `fps` and the conditioning audio, as H.264 yuv420p + AAC with the index up front
 * (faststart), so browsers start playing before the whole file arrives.
 */
export async function writePreviewMp4(
  frames: readonly Uint8Array[],
  width: number,
  height: number,
  fps: number,
  audio: { pcm: Float32Array[]; sampleRate: number },
  out: string,
): Promise<void> {
  const work = await mkdtemp(join(tmpdir(), "a2v-preview-"));
  try {
    const wav = join(work, "audio.wav");
    await encodeAudio({ pcm: audio.pcm, sampleRate: audio.sampleRate }, wav, { wavFormat: "float32" });
    const video = new Uint8Array(frames.length * width * height * 3);
    frames.forEach((f, i) => {
      video.set(f, i * width * height * 3);
    });
    const args = [
      "-f",
      "rawvideo",
      "-pix_fmt",
      "rgb24",
      "-s",
      `${width}x${height}`,
      "-framerate",
      String(fps),
      "-i",
      "pipe:0",
      "-f",
      "wav",
      "-i",
      `file:${wav}`,
      "-map",
      "0:v:0",
      "-map",
      "1:a:0",
      ...browserMp4Output(resolve(out), ["-preset", "medium", "-crf", "18"]),
    ];
    await runFfmpeg(args, video).catch((error: FfmpegFailure) => {
      throw new A2VError("preview_encode_failed", `could not write the preview ${basename(out)}: ${error.reason}`, {
        details: [{ code: "preview_encode_failed", file: out, message: error.reason }],
        cause: error,
      });
    });
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
