import { execFile } from "node:child_process";
import { stat } from "node:fs/promises";
import { promisify } from "node:util";
import { A2VError } from "@a2v/errors";
import { parseFile } from "music-metadata";
import { pinnedInput } from "./demuxer.js";
import { mediaTools } from "./ffmpeg.js";

const execFileAsync = promisify(execFile);

export interface AudioProbe {
  /** Seconds of audio (container/stream duration; decoders may return a few ms more or less). */
  durationSeconds: number;
  sampleRate: number;
  channels: number;
  /** Codec as the prober names it, e.g. "MPEG 1 Layer 3" (music-metadata) or "aac" (ffprobe). */
  codec: string;
  container: string;
  /** Whether the file also holds a video stream. */
  hasVideo: boolean;
  /** Which prober answered. */
  source: "music-metadata" | "ffprobe";
}

/**
 * Containers music-metadata misreads (mono AAC in MPEG-4 reported as stereo, nothing for QuickTime)
 * or cannot read (AVI); these always go to ffprobe.
 */
const FFPROBE_CONTAINERS = /mp4|m4a|m4v|isom|iso2|qt|quicktime|mov|3gp|avi|matroska|webm|ebml/i;

/**
 * Duration, sample rate, channels and codec of the first audio stream. Uses music-metadata (pure JS,
 * fast) for plain audio files and ffprobe for video containers or whatever music-metadata cannot answer.
 * Throws `media_not_found`, `no_audio_stream` or `corrupt_media` (status 422) naming the file.
 */
export async function probeAudio(file: string): Promise<AudioProbe> {
  await assertReadableFile(file);
  const probe = (await probeWithMusicMetadata(file)) ?? (await probeWithFfprobe(file));
  assertSampleRate(file, probe.sampleRate);
  return probe;
}

/** Highest sample rate accepted (ffmpeg's own resampler and decoders stop well before a header's 2³² Hz). */
export const MAX_SAMPLE_RATE = 768_000;

/** A header's sample rate is data: anything but an integer in 1 Hz … 768 kHz is a 422 naming the file. */
function assertSampleRate(file: string, sampleRate: number): void {
  if (Number.isInteger(sampleRate) && sampleRate >= 1 && sampleRate <= MAX_SAMPLE_RATE) return;
  const message = `${file}: the audio header claims ${sampleRate} Hz; supported sample rates are 1 to ${MAX_SAMPLE_RATE} Hz`;
  throw new A2VError("unsupported_sample_rate", message, {
    status: 422,
    details: [{ code: "unsupported_sample_rate", message: `sample rate ${sampleRate} Hz`, file }],
  });
}

export async function assertReadableFile(file: string): Promise<void> {
  const info = await stat(file).catch(() => undefined);
  if (!info?.isFile()) {
    throw new A2VError("media_not_found", `Media file not found: ${file}`, {
      status: 422,
      details: [{ code: "media_not_found", message: "file does not exist or is not a regular file", file }],
    });
  }
}

async function probeWithMusicMetadata(file: string): Promise<AudioProbe | undefined> {
  try {
    const { format } = await parseFile(file, { duration: true });
    const container = format.container ?? "";
    if (format.hasVideo || FFPROBE_CONTAINERS.test(container)) return undefined;
    const { sampleRate, numberOfChannels, duration } = format;
    if (!sampleRate || !numberOfChannels || !duration) return undefined;
    return {
      durationSeconds: duration,
      sampleRate,
      channels: numberOfChannels,
      codec: format.codec ?? "unknown",
      container,
      hasVideo: false,
      source: "music-metadata",
    };
  } catch {
    return undefined;
  }
}

interface FfprobeOutput {
  streams?: { codec_type?: string; codec_name?: string; sample_rate?: string; channels?: number; duration?: string }[];
  format?: { format_name?: string; duration?: string };
}

async function probeWithFfprobe(file: string): Promise<AudioProbe> {
  let parsed: FfprobeOutput;
  try {
    const { stdout } = await execFileAsync(
      mediaTools().ffprobe.path,
      ["-v", "error", "-print_format", "json", "-show_format", "-show_streams", ...pinnedInput(file)],
      { maxBuffer: 16 * 1024 * 1024 },
    );
    parsed = JSON.parse(stdout) as FfprobeOutput;
  } catch (cause) {
    const reason = (cause as { stderr?: string }).stderr?.trim() || String(cause);
    throw new A2VError("corrupt_media", `Could not read media file ${file}: ${reason}`, {
      status: 422,
      cause,
      details: [{ code: "corrupt_media", message: reason, file }],
    });
  }
  const streams = parsed.streams ?? [];
  const audio = streams.find((s) => s.codec_type === "audio");
  if (!audio) {
    throw new A2VError("no_audio_stream", `Media file has no audio stream: ${file}`, {
      status: 422,
      details: [{ code: "no_audio_stream", message: "no audio stream found", file }],
    });
  }
  // Matroska has no per-stream duration; the format duration is the best available.
  const duration = Number(audio.duration ?? parsed.format?.duration ?? Number.NaN);
  return {
    durationSeconds: Number.isFinite(duration) ? duration : 0,
    sampleRate: Number(audio.sample_rate ?? 0),
    channels: audio.channels ?? 0,
    codec: audio.codec_name ?? "unknown",
    container: parsed.format?.format_name ?? "",
    hasVideo: streams.some((s) => s.codec_type === "video"),
    source: "ffprobe",
  };
}
