import { type ChildProcessByStdio, execFile, spawn } from "node:child_process";
import type { Readable } from "node:stream";
import { promisify } from "node:util";
import { mediaTools, pinnedInput } from "@a2v/audio";
import { A2VError } from "@a2v/errors";
import { scrubPath } from "../probe.js";

const execFileAsync = promisify(execFile);

interface FfprobeJson {
  streams?: { codec_type?: string; duration?: string }[];
  format?: { duration?: string };
}

/** What an error says about the file: its archive path (never the temp path) and its group. */
export interface MediaSource {
  /** Local path ffmpeg reads. */
  path: string;
  /** Name shown in messages: the path inside the archive when known. */
  label: string;
  group?: string;
}

export function mediaError(source: MediaSource, code: string, message: string, cause?: unknown): A2VError {
  const where = source.group === undefined ? source.label : `group ${source.group}: ${source.label}`;
  return new A2VError(code, `${where}: ${message}`, {
    status: 422,
    details: [{ code, message, file: source.label, ...(source.group === undefined ? {} : { group: source.group }) }],
    cause,
  });
}

function decodeError(source: MediaSource, message: string, cause?: unknown): A2VError {
  return mediaError(source, "corrupt_media", message, cause);
}

/**
 * A video's duration in seconds: the video stream's, else the container's (mkv has no per-stream
 * duration). This is the "synthesized clip's duration" the audio is fitted to.
 */
export async function videoDuration(source: MediaSource, timeoutMs: number): Promise<number> {
  let json: FfprobeJson;
  try {
    const { stdout } = await execFileAsync(
      mediaTools().ffprobe.path,
      ["-v", "error", "-print_format", "json", "-show_format", "-show_streams", ...pinnedInput(source.path)],
      { maxBuffer: 16 << 20, timeout: timeoutMs, killSignal: "SIGKILL" },
    );
    json = JSON.parse(stdout) as FfprobeJson;
  } catch (cause) {
    throw decodeError(source, "ffprobe could not read this file", cause);
  }
  const video = json.streams?.find((s) => s.codec_type === "video");
  if (!video) throw decodeError(source, "no video stream");
  const duration = [video.duration, json.format?.duration].map(Number).find((d) => Number.isFinite(d) && d > 0);
  if (duration === undefined) throw decodeError(source, "no usable duration");
  return duration;
}

/**
 * Runs ffmpeg with `args` (input pinned by the caller with `pinnedInput`) and yields its stdout cut into
 * records of exactly `recordBytes` (one raw frame). Pipe chunks (<= 64 KiB) do not align with frames, so
 * they are reassembled into one reused buffer: the yielded view is only valid until the next iteration.
 * `for await` gives backpressure, so memory stays at one frame however long the video. Stopping early
 * kills ffmpeg; so does running past `timeoutMs` (a `corrupt_media` error saying so).
 */
export async function* ffmpegRecords(
  args: string[],
  recordBytes: number,
  source: MediaSource,
  timeoutMs: number,
): AsyncGenerator<Uint8Array> {
  const proc: ChildProcessByStdio<null, Readable, Readable> = spawn(
    mediaTools().ffmpeg.path,
    ["-hide_banner", "-loglevel", "error", "-nostdin", ...args],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  let stderr = "";
  proc.stderr.setEncoding("utf8");
  // Drained continuously: a full stderr pipe would block ffmpeg.
  proc.stderr.on("data", (text: string) => {
    if (stderr.length < 8192) stderr += text;
  });
  const exited = new Promise<number | null>((resolve, reject) => {
    proc.on("error", reject);
    proc.on("close", (code) => resolve(code));
  });
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    proc.kill("SIGKILL");
  }, timeoutMs);
  let finished = false;
  try {
    const record = new Uint8Array(recordBytes);
    let filled = 0;
    for await (const chunk of proc.stdout as AsyncIterable<Buffer>) {
      let offset = 0;
      while (offset < chunk.length) {
        const n = Math.min(recordBytes - filled, chunk.length - offset);
        record.set(chunk.subarray(offset, offset + n), filled);
        filled += n;
        offset += n;
        if (filled === recordBytes) {
          yield record;
          filled = 0;
        }
      }
    }
    const code = await exited;
    finished = true;
    if (timedOut) throw decodeError(source, `decoding took longer than ${timeoutMs} ms and was stopped`);
    if (code !== 0) {
      throw decodeError(source, `ffmpeg failed (exit ${code}): ${scrubPath(stderr.trim(), source.path, source.label)}`);
    }
  } finally {
    clearTimeout(timer);
    if (!finished) {
      proc.kill("SIGKILL");
      await exited.catch(() => undefined);
    }
  }
}
