import { pinnedInput } from "@a2v/audio";
import { A2VError } from "@a2v/errors";
import sharp from "sharp";
import { pictureSize } from "../picture-size.js";
import { ffmpegRecords, type MediaSource, mediaError } from "./ffmpeg.js";

/** Default time budget of one ffmpeg run in preprocessing (ms). */
export const DEFAULT_FFMPEG_TIMEOUT_MS = 10 * 60_000;
/** Default pixel cap of a start picture (the same as the dataset's `limits.maxPixels`). */
export const DEFAULT_MAX_PIXELS = 40_000_000;

/** A path, or a path with the archive name and group that messages should show instead. */
export type MediaInput = string | MediaSource;

export function mediaSource(input: MediaInput): MediaSource {
  return typeof input === "string" ? { path: input, label: input } : input;
}

/** Output frame size in pixels: the resolution bucket (`resolutionFor(resolution, aspect_ratio)` in @a2v/sdk). */
export interface Bucket {
  width: number;
  height: number;
}

export function frameBytes(bucket: Bucket): number {
  return bucket.width * bucket.height * 3;
}

/**
 * Fill geometry shared by the ffmpeg and sharp paths so a start image and a video frame of the same
 * picture land on the same pixels: scale to cover the bucket (sizes rounded like ffmpeg's
 * `force_original_aspect_ratio=increase`), then crop at an even offset (ffmpeg may crop in a 4:2:0
 * format, where odd offsets get rounded down).
 */
export function fillGeometry(
  sourceWidth: number,
  sourceHeight: number,
  { width, height }: Bucket,
): { scaledWidth: number; scaledHeight: number; left: number; top: number } {
  const scaledWidth = Math.max(width, Math.round((height * sourceWidth) / sourceHeight));
  const scaledHeight = Math.max(height, Math.round((width * sourceHeight) / sourceWidth));
  const left = 2 * Math.trunc((scaledWidth - width) / 4);
  const top = 2 * Math.trunc((scaledHeight - height) / 4);
  return { scaledWidth, scaledHeight, left, top };
}

/**
 * ffmpeg filter that FILLS the bucket and center-crops the overflow: no letterboxing, no distortion
 * (see `fillGeometry`). Anamorphic sources are first made square-pixel so "fill" uses their display aspect.
 */
export function fillCropFilter({ width, height }: Bucket): string {
  return [
    "scale=iw*sar:ih",
    "setsar=1",
    `scale=${width}:${height}:force_original_aspect_ratio=increase:flags=bicubic`,
    `crop=${width}:${height}:2*trunc((iw-${width})/4):2*trunc((ih-${height})/4)`,
    "setsar=1",
  ].join(",");
}

/** A frame rate as an exact ffmpeg rational (the fps filter rounds badly with long decimals). */
export function rateArg(rate: number): string {
  const den = 1_000_000;
  return `${Math.round(rate * den)}/${den}`;
}

export interface DecodeVideoOptions {
  bucket: Bucket;
  /**
   * Output frames per second. Output frame k is the source frame showing at time k / fps (the last one
   * starting at or before it): frames are dropped or repeated, never blended.
   */
  fps: number;
  /** Stop after this many frames (ffmpeg stops decoding too). */
  maxFrames?: number;
  /** Repeat the last frame so exactly `maxFrames` come out even if the source ends early. */
  padToMaxFrames?: boolean;
  /** ffmpeg is killed past this (ms). Default 10 minutes. */
  timeoutMs?: number;
}

/**
 * Streams a video as uint8 RGB frames (H*W*3, row-major) filled and center-cropped to the bucket at
 * `fps`. The yielded buffer is reused: copy it before the next iteration.
 */
export function decodeFrames(file: MediaInput, options: DecodeVideoOptions): AsyncGenerator<Uint8Array> {
  const source = mediaSource(file);
  const filters = [`fps=fps=${rateArg(options.fps)}:round=up`, fillCropFilter(options.bucket)];
  if (options.padToMaxFrames) filters.push("tpad=stop_mode=clone:stop_duration=3600");
  const args = [...pinnedInput(source.path), "-an", "-sn", "-dn", "-vf", filters.join(",")];
  if (options.maxFrames !== undefined) args.push("-frames:v", String(options.maxFrames));
  args.push("-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:1");
  return ffmpegRecords(args, frameBytes(options.bucket), source, options.timeoutMs ?? DEFAULT_FFMPEG_TIMEOUT_MS);
}

const IMAGE_EXTENSIONS = /\.(png|jpe?g)$/i;

export interface StartImageOptions {
  /** Pictures over this many pixels are refused before decoding (`media_too_large`). Default 40 MP. */
  maxPixels?: number;
  /** ffmpeg is killed past this (ms) for a start video. Default 10 minutes. */
  timeoutMs?: number;
}

/**
 * The start image as uint8 RGB filled and center-cropped to the bucket. PNG/JPEG go through sharp,
 * which honours EXIF orientation (ffmpeg ignores it); the content must be the format its extension
 * names (sharp would otherwise read SVG, TIFF, … by content) and at most `maxPixels`. For a start video
 * its first frame is decoded with the same filter as the target clip.
 */
export async function decodeStartImage(
  file: MediaInput,
  bucket: Bucket,
  options: StartImageOptions = {},
): Promise<Uint8Array> {
  const source = mediaSource(file);
  const extension = IMAGE_EXTENSIONS.exec(source.path)?.[1]?.toLowerCase();
  if (extension) {
    const expected = extension === "png" ? "png" : "jpeg";
    const maxPixels = options.maxPixels ?? DEFAULT_MAX_PIXELS;
    // The header is read first: a picture over the cap is refused before sharp allocates it.
    const size = await pictureSize(source.path, expected).catch(() => undefined);
    if (!size) throw mediaError(source, "corrupt_media", `start image is not a ${expected.toUpperCase()} picture`);
    if (size.width * size.height > maxPixels) {
      throw mediaError(
        source,
        "media_too_large",
        `start image is ${size.width}x${size.height}, over the limit of ${maxPixels} pixels`,
      );
    }
    let decoded: Uint8Array;
    try {
      const meta = await sharp(source.path, { limitInputPixels: maxPixels }).metadata();
      if (meta.format !== expected) {
        throw mediaError(source, "corrupt_media", `start image is ${meta.format ?? "unknown"}, not ${expected}`);
      }
      // EXIF orientations 5-8 are quarter turns: the displayed picture has width and height swapped.
      const turned = (meta.orientation ?? 1) >= 5;
      const [w, h] = turned ? [meta.height, meta.width] : [meta.width, meta.height];
      const g = fillGeometry(w, h, bucket);
      const { data, info } = await sharp(source.path, { limitInputPixels: maxPixels })
        .rotate()
        .removeAlpha()
        .toColourspace("srgb")
        .resize(g.scaledWidth, g.scaledHeight, { fit: "fill", kernel: "cubic" })
        .extract({ left: g.left, top: g.top, width: bucket.width, height: bucket.height })
        .raw()
        .toBuffer({ resolveWithObject: true });
      if (info.channels !== 3 || data.length !== frameBytes(bucket)) {
        throw mediaError(
          source,
          "corrupt_media",
          `start image decoded to ${info.channels} channels, ${data.length} bytes`,
        );
      }
      decoded = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    } catch (cause) {
      if (cause instanceof A2VError) throw cause;
      throw mediaError(source, "corrupt_media", `start image could not be decoded: ${(cause as Error).message}`, cause);
    }
    return decoded;
  }
  const args = [...pinnedInput(source.path), "-an", "-sn", "-dn", "-vf", fillCropFilter(bucket), "-frames:v", "1"];
  for await (const frame of ffmpegRecords(
    [...args, "-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:1"],
    frameBytes(bucket),
    source,
    options.timeoutMs ?? DEFAULT_FFMPEG_TIMEOUT_MS,
  )) {
    return frame.slice();
  }
  throw mediaError(source, "corrupt_media", "start video has no frames");
}
