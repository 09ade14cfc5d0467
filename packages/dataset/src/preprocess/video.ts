import { A2VError } from "@a2v/errors";
import sharp from "sharp";
import { ffmpegRecords } from "./ffmpeg.js";

/** Output frame size in pixels: the resolution bucket (`resolutionFor(resolution, aspect_ratio)` in @a2v/sdk). */
export interface Bucket {
  width: number;
  height: number;
}

export function frameBytes(bucket: Bucket): number {
  return bucket.width * bucket.height * 3;
}

/**
 * ffmpeg filter that FILLS the bucket and center-crops the overflow: no letterboxing, no distortion.
 * Anamorphic sources are first made square-pixel so "fill" uses their display aspect.
 */
export function fillCropFilter({ width, height }: Bucket): string {
  return [
    "scale=iw*sar:ih",
    "setsar=1",
    `scale=${width}:${height}:force_original_aspect_ratio=increase:flags=bicubic`,
    `crop=${width}:${height}`,
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
  /** Output frames per second; `fps` drops/duplicates to the nearest source frame (no blending). */
  fps: number;
  /** Stop after this many frames (ffmpeg stops decoding too). */
  maxFrames?: number;
  /** Repeat the last frame so exactly `maxFrames` come out even if the source ends early. */
  padToMaxFrames?: boolean;
}

/**
 * Streams a video as uint8 RGB frames (H*W*3, row-major) filled and center-cropped to the bucket at
 * `fps`. The yielded buffer is reused: copy it before the next iteration.
 */
export function decodeFrames(file: string, options: DecodeVideoOptions): AsyncGenerator<Uint8Array> {
  const filters = [`fps=${rateArg(options.fps)}`, fillCropFilter(options.bucket)];
  if (options.padToMaxFrames) filters.push("tpad=stop_mode=clone:stop_duration=3600");
  const args = ["-i", file, "-an", "-sn", "-dn", "-vf", filters.join(",")];
  if (options.maxFrames !== undefined) args.push("-frames:v", String(options.maxFrames));
  args.push("-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:1");
  return ffmpegRecords(args, frameBytes(options.bucket), file);
}

const IMAGE_EXTENSIONS = /\.(png|jpe?g)$/i;

/**
 * The start image as uint8 RGB filled and center-cropped to the bucket. PNG/JPEG go through sharp,
 * which honours EXIF orientation (ffmpeg ignores it); for a start video its first frame is decoded with
 * the same filter as the target clip.
 */
export async function decodeStartImage(file: string, bucket: Bucket): Promise<Uint8Array> {
  if (IMAGE_EXTENSIONS.test(file)) {
    try {
      const { data, info } = await sharp(file)
        .rotate()
        .removeAlpha()
        .toColourspace("srgb")
        .resize(bucket.width, bucket.height, { fit: "cover", position: "centre" })
        .raw()
        .toBuffer({ resolveWithObject: true });
      if (info.channels !== 3) throw new Error(`decoded to ${info.channels} channels`);
      return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    } catch (cause) {
      const message = `start image could not be decoded: ${(cause as Error).message}`;
      throw new A2VError("corrupt_media", `${file}: ${message}`, {
        status: 422,
        details: [{ code: "corrupt_media", message, file }],
        cause,
      });
    }
  }
  const args = ["-i", file, "-an", "-sn", "-dn", "-vf", fillCropFilter(bucket), "-frames:v", "1"];
  for await (const frame of ffmpegRecords(
    [...args, "-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:1"],
    frameBytes(bucket),
    file,
  )) {
    return frame.slice();
  }
  throw new A2VError("corrupt_media", `${file}: start video has no frames`, {
    status: 422,
    details: [{ code: "corrupt_media", message: "start video has no frames", file }],
  });
}
