import { writeFile } from "node:fs/promises";
import { extname } from "node:path";
import { A2VError, fromSystemError } from "@a2v/errors";
import type { DecodedAudio } from "./decode.js";
import { type FfmpegFailure, runFfmpeg } from "./ffmpeg.js";
import { frameCount } from "./pcm.js";

export interface EncodeAudioOptions {
  /** WAV sample format: 16-bit integer (default, plays everywhere; no dither) or 32-bit float (lossless for this package's PCM). */
  wavFormat?: "pcm16" | "float32";
  /** Bit rate for lossy formats via ffmpeg, e.g. "192k". Default: "192k" for AAC. */
  bitrate?: string;
}

/**
 * Writes PCM to `file`. `.wav` is written in TypeScript (16-bit: round(x·32768) clipped to the int16 range, the
 * inverse of what decoders do; or float32); any other extension is encoded by ffmpeg from piped f32le (`.m4a`/`.aac`: AAC-LC; `.flac`,
 * `.mp3`, `.ogg`: ffmpeg's default encoder for the extension). Nothing else touches the disk.
 */
export async function encodeAudio(audio: DecodedAudio, file: string, options: EncodeAudioOptions = {}): Promise<void> {
  const { pcm, sampleRate } = audio;
  const frames = frameCount(pcm);
  if (pcm.length === 0 || !Number.isInteger(sampleRate) || sampleRate <= 0) {
    throw new A2VError("invalid_pcm", `Cannot encode ${pcm.length} channels at ${sampleRate} Hz to ${file}.`, {
      status: 422,
    });
  }
  if (extname(file).toLowerCase() === ".wav") {
    await writeFile(file, wavBytes(pcm, frames, sampleRate, options.wavFormat ?? "pcm16")).catch((cause: unknown) => {
      throw fromSystemError(cause, { what: "audio output", file }) ?? cause;
    });
    return;
  }
  await encodeWithFfmpeg(pcm, frames, sampleRate, file, options);
}

/** RIFF/WAVE: format tag 1 (PCM, 16-bit) or 3 (IEEE float, 32-bit), interleaved little-endian. */
function wavBytes(
  pcm: readonly Float32Array[],
  frames: number,
  sampleRate: number,
  format: "pcm16" | "float32",
): Buffer {
  const channels = pcm.length;
  const bytesPerSample = format === "pcm16" ? 2 : 4;
  const dataBytes = frames * channels * bytesPerSample;
  const out = Buffer.alloc(44 + dataBytes);
  out.write("RIFF", 0, "ascii");
  out.writeUInt32LE(36 + dataBytes, 4);
  out.write("WAVEfmt ", 8, "ascii");
  out.writeUInt32LE(16, 16);
  out.writeUInt16LE(format === "pcm16" ? 1 : 3, 20);
  out.writeUInt16LE(channels, 22);
  out.writeUInt32LE(sampleRate, 24);
  out.writeUInt32LE(sampleRate * channels * bytesPerSample, 28);
  out.writeUInt16LE(channels * bytesPerSample, 32);
  out.writeUInt16LE(8 * bytesPerSample, 34);
  out.write("data", 36, "ascii");
  out.writeUInt32LE(dataBytes, 40);
  let offset = 44;
  for (let f = 0; f < frames; f++) {
    for (let c = 0; c < channels; c++) {
      const v = pcm[c]![f]!;
      if (format === "float32") out.writeFloatLE(v, offset);
      else out.writeInt16LE(Math.max(-32768, Math.min(32767, Math.round(v * 32768))), offset);
      offset += bytesPerSample;
    }
  }
  return out;
}

function interleave(pcm: readonly Float32Array[], frames: number): Buffer {
  const channels = pcm.length;
  const samples = new Float32Array(frames * channels);
  for (let c = 0; c < channels; c++) {
    const x = pcm[c]!;
    for (let f = 0; f < frames; f++) samples[f * channels + c] = x[f]!;
  }
  return Buffer.from(samples.buffer);
}

function encodeWithFfmpeg(
  pcm: readonly Float32Array[],
  frames: number,
  sampleRate: number,
  file: string,
  options: EncodeAudioOptions,
): Promise<void> {
  const ext = extname(file).toLowerCase();
  const codec = ext === ".m4a" || ext === ".aac" || ext === ".mp4" ? ["-c:a", "aac"] : [];
  const bitrate = options.bitrate ?? (codec.length > 0 ? "192k" : undefined);
  const args = [
    ...["-f", "f32le", "-ar", String(sampleRate), "-ac", String(pcm.length), "-i", "pipe:0"],
    ...codec,
    ...(bitrate ? ["-b:a", bitrate] : []),
    file,
  ];
  return runFfmpeg(args, interleave(pcm, frames)).catch((error: FfmpegFailure) => {
    throw new A2VError("encode_failed", `Could not encode audio to ${file}: ${error.reason}`, {
      status: 422,
      details: [{ code: "encode_failed", message: error.reason, file }],
      cause: error,
    });
  });
}
