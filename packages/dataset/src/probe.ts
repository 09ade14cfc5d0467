import { execFile } from "node:child_process";
import { extname } from "node:path";
import { formatMatchesExtension, mediaTools, pinnedInput } from "@a2v/audio";
import { A2VError } from "@a2v/errors";
import { DatasetErrorCodes } from "./codes.js";
import { isImageExtension } from "./naming.js";
import { DEFAULT_MEDIA_LIMITS, definedOnly } from "./options.js";
import { pictureSize } from "./picture-size.js";
import type { AudioStreamInfo, MediaLimits, MediaProbe, VideoStreamInfo } from "./types.js";

interface FfprobeStream {
  index?: number;
  codec_type?: string;
  codec_name?: string;
  width?: number;
  height?: number;
  avg_frame_rate?: string;
  r_frame_rate?: string;
  nb_frames?: string;
  nb_read_packets?: string;
  nb_read_frames?: string;
  duration?: string;
  sample_rate?: string;
  channels?: number;
  disposition?: { attached_pic?: number };
  tags?: Record<string, string>;
  side_data_list?: { rotation?: number }[];
}

interface FfprobeOutput {
  streams?: FfprobeStream[];
  format?: { format_name?: string; duration?: string };
}

export interface ProbeMediaOptions {
  /** Name used in error messages (e.g. the path inside the archive). Default: the file path. */
  label?: string;
  /** Duration, frame, pixel and time bounds; each one overrides its default. */
  limits?: Partial<MediaLimits>;
}

/** Packets decoded per stream to prove a file is decodable (not just demuxable). */
const DECODE_CHECK_PACKETS = 32;

/**
 * Probes a media file with ffprobe: container, duration, the first video stream (size after
 * rotation, fps, frame count) and the first audio stream. The demuxer is pinned to the extension
 * (a playlist or concat list named .mp4 is refused, never followed). Pictures are sized from their
 * header before anything decodes them; durations, frame counts and pixels are held to `limits`
 * (`media_too_large`) from a first pass that decodes nothing (`-nofind_stream_info`), which also demuxes
 * packets (at most `maxVideoFrames` + 1) to count frames exactly in every container; a second pass
 * decodes the first packets of every stream so that a file preprocessing cannot decode fails here. Two
 * ffprobe runs for audio or video (three for a clip past `maxVideoFrames` packets in all), one for a picture. Throws `corrupt_media` (422) naming the file when ffprobe
 * cannot read it, its format is not its extension's, nothing decodes, or it has no audio/video stream.
 */
export async function probeMedia(file: string, options: ProbeMediaOptions = {}): Promise<MediaProbe> {
  const label = options.label ?? file;
  const limits: MediaLimits = { ...DEFAULT_MEDIA_LIMITS, ...definedOnly(options.limits) };
  const extension = extname(file).slice(1).toLowerCase();
  const isImage = isImageExtension(extension);
  if (isImage) {
    const format = extension === "png" ? "png" : "jpeg";
    const size = await pictureSize(file, format).catch(() => undefined);
    if (!size)
      throw corruptMedia(label, `it is not a ${format.toUpperCase()} picture (its header is missing or broken)`);
    checkPixels(label, size.width, size.height, limits);
  }
  const run = (args: string[]) =>
    runFfprobe(["-v", "error", "-print_format", "json", ...args, ...pinnedInput(file)], limits.probeTimeoutMs).catch(
      (cause: Error & { stderr?: string; killed?: boolean }) => {
        const reason = cause.killed
          ? `ffprobe took longer than ${limits.probeTimeoutMs} ms`
          : scrubPath(lastLine(cause.stderr) || cause.message, file, label);
        throw corruptMedia(label, `ffprobe cannot read it as .${extension} (${reason})`, cause);
      },
    );
  // Pass 1 (not for pictures, sized from their header above): the container header and a packet count,
  // with -nofind_stream_info so that nothing is decoded before sizes and lengths are judged.
  const packets = new Map<number, number>();
  if (!isImage) {
    const header = parseJson(
      label,
      await run([
        "-nofind_stream_info",
        "-show_format",
        "-show_streams",
        "-count_packets",
        "-read_intervals",
        `%+#${limits.maxVideoFrames + 1}`,
      ]),
    );
    checkFormat(label, file, extension, header.format?.format_name);
    const seconds = declaredSeconds(header);
    if (seconds > limits.maxMediaSeconds) throw tooLongError(label, seconds, limits);
    let total = 0;
    for (const stream of header.streams ?? []) {
      if (stream.codec_type === "video") checkPixels(label, stream.width ?? 0, stream.height ?? 0, limits);
      const count = toNumber(stream.nb_read_packets);
      total += count;
      if (stream.index !== undefined) packets.set(stream.index, count);
    }
    const video = mainVideo(header.streams ?? []);
    // The count read at most maxVideoFrames + 1 packets of all streams together; when audio filled part
    // of it, the video's own count is finished on its own (long clips only).
    if (video?.index !== undefined && total > limits.maxVideoFrames) {
      const counted = parseJson(
        label,
        await run([
          "-nofind_stream_info",
          "-select_streams",
          String(video.index),
          "-count_packets",
          "-read_intervals",
          `%+#${limits.maxVideoFrames + 1}`,
          "-show_entries",
          "stream=index,nb_read_packets",
        ]),
      );
      packets.set(video.index, toNumber(counted.streams?.[0]?.nb_read_packets));
    }
    if (video?.index !== undefined && (packets.get(video.index) ?? 0) > limits.maxVideoFrames) {
      throw tooLarge(label, `it has more than ${limits.maxVideoFrames} frames`);
    }
  }
  // Pass 2: the stream details (ffprobe's heuristics fill the frame rate, sample format, …) and a decode
  // of the first packets of every stream (the whole picture of a PNG/JPEG), proving the file decodes as
  // preprocessing will need.
  const parsed = parseJson(
    label,
    await run([
      "-show_format",
      "-show_streams",
      "-count_frames",
      ...(isImage ? [] : ["-read_intervals", `%+#${DECODE_CHECK_PACKETS}`]),
    ]),
  );
  const formatName = parsed.format?.format_name;
  checkFormat(label, file, extension, formatName);
  const formatDuration = toNumber(parsed.format?.duration);
  const streams = parsed.streams ?? [];
  const videoStream = mainVideo(streams);
  const audioStream = streams.find((s) => s.codec_type === "audio");
  if (!videoStream && !audioStream) throw corruptMedia(label, "it has no audio or video stream");
  if (videoStream) checkPixels(label, videoStream.width ?? 0, videoStream.height ?? 0, limits);
  const seconds = declaredSeconds(parsed);
  if (!isImage && seconds > limits.maxMediaSeconds) throw tooLongError(label, seconds, limits);
  if (videoStream && toNumber(videoStream.nb_read_frames) === 0) {
    throw corruptMedia(label, "its video frames cannot be decoded");
  }
  if (audioStream && toNumber(audioStream.nb_read_frames) === 0) {
    throw corruptMedia(label, "its audio cannot be decoded (no samples in its first packets)");
  }
  if (videoStream && !isImage) {
    // The decode check counted only the first packets; the frame count is the demuxed packet count.
    // Packets actually demuxed beat header counts (an AVI header can claim frames it does not hold).
    videoStream.nb_read_frames = undefined;
    videoStream.nb_read_packets = String(videoStream.index === undefined ? 0 : (packets.get(videoStream.index) ?? 0));
  }
  if (isImage) videoStream!.nb_read_frames = "1";
  const video = videoStream ? videoInfo(videoStream, formatDuration, isImage) : undefined;
  const audio = audioStream ? audioInfo(audioStream, formatDuration) : undefined;
  if (video && (video.width <= 0 || video.height <= 0)) throw corruptMedia(label, "its video has no picture size");
  return {
    container: formatName ?? "unknown",
    durationSec: formatDuration || Math.max(video?.durationSec ?? 0, audio?.durationSec ?? 0),
    ...(video ? { video } : {}),
    ...(audio ? { audio } : {}),
  };
}

/** The first video stream that is not cover art. */
function mainVideo(streams: FfprobeStream[]): FfprobeStream | undefined {
  return streams.find((s) => s.codec_type === "video" && s.disposition?.attached_pic !== 1);
}

/** The longest duration the header declares (format, or any audio/video stream). */
function declaredSeconds(output: FfprobeOutput): number {
  const streams = (output.streams ?? []).filter((s) => s.codec_type === "video" || s.codec_type === "audio");
  return Math.max(toNumber(output.format?.duration), ...streams.map(streamDuration));
}

function checkFormat(label: string, file: string, extension: string, formatName: string | undefined): void {
  if (!formatMatchesExtension(file, formatName)) {
    throw corruptMedia(label, `its content is ${formatName ?? "unknown"}, not the format .${extension} names`);
  }
}

function tooLongError(label: string, seconds: number, limits: MediaLimits): A2VError {
  return tooLarge(label, `it lasts ${seconds.toFixed(1)} s, over the limit of ${limits.maxMediaSeconds} s`);
}

function checkPixels(label: string, width: number, height: number, limits: MediaLimits): void {
  if (width * height > limits.maxPixels) {
    throw tooLarge(label, `its picture is ${width}x${height}, over the limit of ${limits.maxPixels} pixels`);
  }
}

function parseJson(label: string, output: string): FfprobeOutput {
  try {
    return JSON.parse(output) as FfprobeOutput;
  } catch (cause) {
    throw corruptMedia(label, "ffprobe returned unreadable output", cause);
  }
}

function runFfprobe(args: string[], timeoutMs: number): Promise<string> {
  const { ffprobe } = mediaTools();
  return new Promise((resolve, reject) => {
    execFile(
      ffprobe.path,
      args,
      { timeout: timeoutMs, killSignal: "SIGKILL", maxBuffer: 16 * 1024 * 1024, encoding: "utf8" },
      (error, stdout, stderr) => {
        if (error) reject(Object.assign(error, { stderr }));
        else resolve(stdout);
      },
    );
  });
}

function videoInfo(stream: FfprobeStream, formatDuration: number, isImage: boolean): VideoStreamInfo {
  const rotation = Math.abs(stream.side_data_list?.find((d) => d.rotation !== undefined)?.rotation ?? 0);
  const quarterTurn = rotation % 180 === 90;
  const width = stream.width ?? 0;
  const height = stream.height ?? 0;
  const fps = isImage ? 0 : toRate(stream.avg_frame_rate) || toRate(stream.r_frame_rate);
  // Packets actually demuxed beat header counts (an AVI header can claim frames it does not hold).
  const counted = toNumber(stream.nb_read_packets) || toNumber(stream.nb_read_frames) || toNumber(stream.nb_frames);
  // frames / fps is the clip's playing length; container durations include start offsets
  // (B-frame delay in mkv), so they are only the fallback.
  const durationSec = isImage ? 0 : counted && fps ? counted / fps : streamDuration(stream) || formatDuration;
  return {
    codec: stream.codec_name ?? "unknown",
    width: quarterTurn ? height : width,
    height: quarterTurn ? width : height,
    fps,
    frames: isImage ? 1 : counted || Math.round(durationSec * fps),
    durationSec,
  };
}

function audioInfo(stream: FfprobeStream, formatDuration: number): AudioStreamInfo {
  return {
    codec: stream.codec_name ?? "unknown",
    sampleRate: toNumber(stream.sample_rate),
    channels: stream.channels ?? 0,
    durationSec: streamDuration(stream) || formatDuration,
  };
}

/** Stream duration, or the Matroska DURATION tag ("HH:MM:SS.fraction"). */
function streamDuration(stream: FfprobeStream): number {
  const direct = toNumber(stream.duration);
  if (direct) return direct;
  const tag = stream.tags?.DURATION ?? stream.tags?.duration;
  const match = tag ? /^(\d+):(\d+):(\d+(?:\.\d+)?)$/.exec(tag) : null;
  return match ? Number(match[1]) * 3600 + Number(match[2]) * 60 + Number(match[3]) : 0;
}

function toNumber(value: string | number | undefined): number {
  const n = Number(value);
  return Number.isFinite(n) && n > 0 ? n : 0;
}

function toRate(value: string | undefined): number {
  if (!value) return 0;
  const [num, den] = value.split("/").map(Number) as [number, number | undefined];
  const rate = den === undefined ? num : num / den;
  return Number.isFinite(rate) && rate > 0 ? rate : 0;
}

/** ffmpeg's message without the local (temp) path: its `file:<path>: ` prefix cut, other mentions replaced by the label. */
export function scrubPath(text: string, path: string, label: string): string {
  return text.replace(`file:${path}: `, "").split(`file:${path}`).join(label).split(path).join(label);
}

function lastLine(text: string | undefined): string {
  return (text ?? "").trim().split("\n").pop()?.trim() ?? "";
}

export function corruptMedia(file: string, reason: string, cause?: unknown): A2VError {
  const message = `${file}: ${reason}`;
  return new A2VError(DatasetErrorCodes.corruptMedia, message, {
    status: 422,
    details: [{ code: DatasetErrorCodes.corruptMedia, file, message }],
    cause,
  });
}

export function tooLarge(file: string, reason: string): A2VError {
  const message = `${file}: ${reason}`;
  return new A2VError(DatasetErrorCodes.mediaTooLarge, message, {
    status: 422,
    details: [{ code: DatasetErrorCodes.mediaTooLarge, file, message }],
  });
}
