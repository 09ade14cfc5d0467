import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { mediaTools } from "@a2v/audio";

/** Runs ffmpeg synchronously (fixture generation only). */
export function ffmpeg(...args: string[]): void {
  execFileSync(mediaTools().ffmpeg.path, ["-hide_banner", "-loglevel", "error", "-nostdin", "-y", ...args]);
}

export function tempDir(prefix: string): { dir: string; path: (name: string) => string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), `a2v-${prefix}-`));
  return { dir, path: (name) => join(dir, name), remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Encodes a lavfi graph to H.264 mp4 (yuv420p), optionally with a sine track. */
export function lavfiVideo(
  out: string,
  graph: string,
  options: { sine?: { hz: number; seconds: number } } = {},
): string {
  const args = ["-f", "lavfi", "-i", graph];
  if (options.sine) {
    args.push(
      "-f",
      "lavfi",
      "-i",
      `sine=frequency=${options.sine.hz}:sample_rate=48000:duration=${options.sine.seconds}`,
    );
    args.push("-c:a", "aac");
  }
  ffmpeg(...args, "-c:v", "libx264", "-preset", "ultrafast", "-qp", "10", "-pix_fmt", "yuv420p", out);
  return out;
}

/** RGB of pixel (x, y) of frame `f` in a packed [F,H,W,3] buffer. */
export function pixel(frames: Uint8Array, width: number, height: number, f: number, x: number, y: number): number[] {
  const i = ((f * height + y) * width + x) * 3;
  return [frames[i]!, frames[i + 1]!, frames[i + 2]!];
}

export function near(actual: number[], expected: number[], tolerance = 24): boolean {
  return actual.every((v, i) => Math.abs(v - expected[i]!) <= tolerance);
}

/** PSNR in dB between two equally sized uint8 buffers. */
export function psnr(a: Uint8Array, b: Uint8Array): number {
  let sum = 0;
  for (let i = 0; i < a.length; i++) {
    const d = a[i]! - b[i]!;
    sum += d * d;
  }
  const mse = sum / a.length;
  return mse === 0 ? Number.POSITIVE_INFINITY : 10 * Math.log10((255 * 255) / mse);
}
