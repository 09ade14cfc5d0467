import { spawn } from "node:child_process";
import { A2VError } from "@a2v/errors";
import { pinnedInput } from "./demuxer.js";
import { mediaTools } from "./ffmpeg.js";
import { assertReadableFile, probeAudio } from "./probe.js";

export interface DecodeAudioOptions {
  /** Output sample rate; default: the file's own. ffmpeg resamples (soxr-free default swr) when it differs. */
  sampleRate?: number;
  /** Output channel count; default: the file's own. ffmpeg up/down-mixes with its standard matrices. */
  channels?: number;
  /** Start reading at this many seconds (sample-accurate, decoded and discarded before). */
  startSeconds?: number;
  /** Read at most this many seconds. */
  durationSeconds?: number;
  /** Aborts the decode (ffmpeg is killed, the promise rejects). */
  signal?: AbortSignal;
}

export interface DecodedAudio {
  sampleRate: number;
  /** Planar float PCM, one array per channel. Lengths come from the decoder: fit them in TS if they matter. */
  pcm: Float32Array[];
}

/**
 * Decodes the first audio stream of any file ffmpeg reads (wav, mp3, ogg, m4a, aac, flac, and the audio
 * of mp4/mov/avi/mkv) to planar Float32 PCM. ffmpeg's f32le output is streamed through a pipe and
 * de-interleaved as it arrives; nothing touches the disk.
 * Errors (status 422, naming the file): `media_not_found`, `no_audio_stream`, `corrupt_media`.
 */
export async function decodeAudio(file: string, options: DecodeAudioOptions = {}): Promise<DecodedAudio> {
  await assertReadableFile(file);
  let { sampleRate, channels } = options;
  if (sampleRate === undefined || channels === undefined) {
    const probe = await probeAudio(file);
    sampleRate ??= probe.sampleRate;
    channels ??= probe.channels;
  }
  if (!Number.isInteger(sampleRate) || sampleRate <= 0 || !Number.isInteger(channels) || channels <= 0) {
    throw new A2VError("invalid_option", `Cannot decode ${file} to ${channels} channels at ${sampleRate} Hz.`, {
      status: 422,
    });
  }
  const args = ["-hide_banner", "-loglevel", "error", "-nostdin"];
  if (options.startSeconds) args.push("-ss", String(options.startSeconds));
  // The demuxer is pinned to the extension: a playlist named .wav must not read other files.
  args.push(...pinnedInput(file), "-map", "0:a:0", "-vn", "-sn", "-dn");
  if (options.durationSeconds !== undefined) args.push("-t", String(options.durationSeconds));
  args.push("-ac", String(channels), "-ar", String(sampleRate), "-f", "f32le", "-acodec", "pcm_f32le", "pipe:1");
  const pcm = await runDecoder(file, args, channels, options.signal);
  return { sampleRate, pcm };
}

function runDecoder(file: string, args: string[], channels: number, signal?: AbortSignal): Promise<Float32Array[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(mediaTools().ffmpeg.path, args, { stdio: ["ignore", "pipe", "pipe"], signal });
    const sink = new PlanarSink(channels);
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => sink.write(chunk));
    child.stderr.on("data", (chunk: Buffer) => {
      stderr = (stderr + chunk.toString("utf8")).slice(-4000);
    });
    // An abort is the caller's decision, not a property of the file: reject with the AbortError itself.
    child.on("error", (cause) => reject(signal?.aborted ? cause : decodeError(file, cause.message, cause)));
    child.on("close", (code) => {
      if (signal?.aborted) return;
      if (code === 0) return resolve(sink.finish());
      const reason = stderr.trim().split("\n").slice(-3).join(" | ") || `ffmpeg exited with code ${code}`;
      if (/matches no streams|does not contain any stream/i.test(reason)) {
        return reject(
          new A2VError("no_audio_stream", `Media file has no audio stream: ${file}`, {
            status: 422,
            details: [{ code: "no_audio_stream", message: reason, file }],
          }),
        );
      }
      reject(decodeError(file, reason));
    });
  });
}

function decodeError(file: string, reason: string, cause?: unknown): A2VError {
  return new A2VError("corrupt_media", `Could not decode audio from ${file}: ${reason}`, {
    status: 422,
    cause,
    details: [{ code: "corrupt_media", message: reason, file }],
  });
}

/** De-interleaves little-endian f32 bytes into growing per-channel arrays; chunks need not align to frames. */
class PlanarSink {
  private planes: Float32Array[];
  private frames = 0;
  private readonly pending: Buffer;
  private pendingBytes = 0;

  constructor(private readonly channels: number) {
    this.planes = Array.from({ length: channels }, () => new Float32Array(48_000));
    this.pending = Buffer.alloc(4 * channels);
  }

  write(chunk: Buffer): void {
    let offset = 0;
    const frameBytes = 4 * this.channels;
    if (this.pendingBytes > 0) {
      const take = Math.min(frameBytes - this.pendingBytes, chunk.length);
      chunk.copy(this.pending, this.pendingBytes, 0, take);
      this.pendingBytes += take;
      offset = take;
      if (this.pendingBytes < frameBytes) return;
      this.push(this.pending, 0, 1);
      this.pendingBytes = 0;
    }
    const whole = Math.floor((chunk.length - offset) / frameBytes);
    this.push(chunk, offset, whole);
    offset += whole * frameBytes;
    this.pendingBytes = chunk.copy(this.pending, 0, offset);
  }

  finish(): Float32Array[] {
    return this.planes.map((p) => p.slice(0, this.frames));
  }

  private push(bytes: Buffer, offset: number, count: number): void {
    if (this.frames + count > this.planes[0]!.length) {
      const capacity = Math.max(2 * this.planes[0]!.length, this.frames + count);
      this.planes = this.planes.map((p) => {
        const grown = new Float32Array(capacity);
        grown.set(p.subarray(0, this.frames));
        return grown;
      });
    }
    const channels = this.channels;
    const samples = alignedFloats(bytes, offset, count * channels);
    for (let c = 0; c < channels; c++) {
      const plane = this.planes[c]!;
      for (let f = 0, i = c; f < count; f++, i += channels) plane[this.frames + f] = samples[i]!;
    }
    this.frames += count;
  }
}

/** A Float32Array over `count` floats of `bytes` from `offset`, copied only when not 4-byte aligned. */
function alignedFloats(bytes: Buffer, offset: number, count: number): Float32Array {
  const start = bytes.byteOffset + offset;
  if (start % 4 === 0) return new Float32Array(bytes.buffer, start, count);
  const copy = new Uint8Array(4 * count);
  copy.set(bytes.subarray(offset, offset + 4 * count));
  return new Float32Array(copy.buffer);
}
