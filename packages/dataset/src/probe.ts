import { execFile } from "node:child_process";
import { extname } from "node:path";
import { mediaTools } from "@a2v/audio";
import { A2VError } from "@a2v/errors";
import { DatasetErrorCodes } from "./codes.js";
import { isImageExtension } from "./naming.js";
import type { AudioStreamInfo, MediaProbe, VideoStreamInfo } from "./types.js";

const PROBE_TIMEOUT_MS = 60_000;

interface FfprobeStream {
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
}

/**
 * Probes a media file with ffprobe: container, duration, the first video stream (size after
 * rotation, fps, frame count) and the first audio stream. Still images are decoded (cheap) so a
 * broken picture is caught; audio/video are demuxed packet by packet, which counts frames
 * exactly in every container (mkv has no frame count in its header, AVI's can be wrong). Throws `corrupt_media`
 * (422) naming the file when ffprobe cannot read it or finds no audio/video stream.
 */
export async function probeMedia(file: string, options: ProbeMediaOptions = {}): Promise<MediaProbe> {
  const label = options.label ?? file;
  const isImage = isImageExtension(extname(file).slice(1).toLowerCase());
  const args = [
    "-v",
    "error",
    "-print_format",
    "json",
    "-show_format",
    "-show_streams",
    isImage ? "-count_frames" : "-count_packets",
    "-i",
    file,
  ];
  const output = await runFfprobe(args).catch((cause: Error & { stderr?: string }) => {
    const reason = lastLine(cause.stderr) || cause.message;
    throw corruptMedia(label, `ffprobe cannot read it (${reason})`, cause);
  });
  let parsed: FfprobeOutput;
  try {
    parsed = JSON.parse(output) as FfprobeOutput;
  } catch (cause) {
    throw corruptMedia(label, "ffprobe returned unreadable output", cause);
  }
  const formatDuration = toNumber(parsed.format?.duration);
  const streams = parsed.streams ?? [];
  const videoStream = streams.find((s) => s.codec_type === "video" && s.disposition?.attached_pic !== 1);
  const audioStream = streams.find((s) => s.codec_type === "audio");
  const video = videoStream ? videoInfo(videoStream, formatDuration, isImage) : undefined;
  const audio = audioStream ? audioInfo(audioStream, formatDuration) : undefined;
  if (!video && !audio) throw corruptMedia(label, "it has no audio or video stream");
  if (video && (video.width <= 0 || video.height <= 0)) throw corruptMedia(label, "its video has no picture size");
  return {
    container: parsed.format?.format_name ?? "unknown",
    durationSec: formatDuration || Math.max(video?.durationSec ?? 0, audio?.durationSec ?? 0),
    ...(video ? { video } : {}),
    ...(audio ? { audio } : {}),
  };
}

function runFfprobe(args: string[]): Promise<string> {
  const { ffprobe } = mediaTools();
  return new Promise((resolve, reject) => {
    execFile(
      ffprobe.path,
      args,
      { timeout: PROBE_TIMEOUT_MS, maxBuffer: 16 * 1024 * 1024, encoding: "utf8" },
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
