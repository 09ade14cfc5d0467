import { spawnSync } from "node:child_process";
import { afterAll, bench, describe } from "vitest";
import { mediaTools, timeStretch } from "../src/index.js";

/**
 * Stretch throughput on one core for 60 s of 48 kHz stereo, WSOLA in TypeScript against ffmpeg's
 * `atempo` (also WSOLA, C) on the same samples, measured in the same run. atempo runs single-threaded
 * with the PCM piped in and out, which is how a Node program would use it instead.
 */
const RATE = 48_000;
const SECONDS = 60;
const FACTORS = [0.8, 1.25];

/** Music-like input: two harmonic voices, a high partial and a little noise, different per channel. */
function makeInput(): Float32Array[] {
  const n = SECONDS * RATE;
  const left = new Float32Array(n);
  const right = new Float32Array(n);
  let seed = 1;
  for (let i = 0; i < n; i++) {
    seed = (seed * 16807) % 2147483647;
    const noise = (seed / 2147483647 - 0.5) * 0.05;
    const t = i / RATE;
    left[i] = 0.3 * Math.sin(2 * Math.PI * 150 * t) + 0.15 * Math.sin(2 * Math.PI * 300 * t) + noise;
    right[i] = 0.3 * Math.sin(2 * Math.PI * 220 * t) + 0.1 * Math.sin(2 * Math.PI * 1375 * t) - noise;
  }
  return [left, right];
}

const input = makeInput();
const interleaved = Buffer.alloc(input[0]!.length * 8);
for (let i = 0; i < input[0]!.length; i++) {
  interleaved.writeFloatLE(input[0]![i]!, 8 * i);
  interleaved.writeFloatLE(input[1]![i]!, 8 * i + 4);
}

function atempo(factor: number): void {
  const args = ["-hide_banner", "-loglevel", "error", "-threads", "1", "-filter_threads", "1"];
  args.push("-f", "f32le", "-ar", String(RATE), "-ac", "2", "-i", "pipe:0");
  args.push("-af", `atempo=${1 / factor}`, "-f", "f32le", "pipe:1");
  const result = spawnSync(mediaTools().ffmpeg.path, args, { input: interleaved, maxBuffer: 1 << 30 });
  if (result.status !== 0) throw new Error(`atempo failed: ${result.stderr}`);
}

const timings = new Map<string, number[]>();
function timed(name: string, run: () => void): () => void {
  return () => {
    const start = performance.now();
    run();
    const list = timings.get(name) ?? [];
    list.push((performance.now() - start) / 1000);
    timings.set(name, list);
  };
}

const options = { iterations: 8, warmupIterations: 1, time: 0, warmupTime: 0 };
for (const factor of FACTORS) {
  describe(`60 s 48 kHz stereo, stretch x${factor}`, () => {
    bench(
      `ffmpeg atempo=${(1 / factor).toFixed(2)} (baseline)`,
      timed(`atempo x${factor}`, () => atempo(factor)),
      options,
    );
    bench(
      "WSOLA (TypeScript)",
      timed(`wsola x${factor}`, () => timeStretch(input, Math.round(input[0]!.length * factor), RATE)),
      options,
    );
  });
}

/** Real-time multiples from the median and from the fastest run (the least disturbed by other load). */
afterAll(() => {
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
  const rt = (seconds: number) => `${(SECONDS / seconds).toFixed(0)}x`;
  for (const factor of FACTORS) {
    const wsola = timings.get(`wsola x${factor}`) ?? [Number.NaN];
    const baseline = timings.get(`atempo x${factor}`) ?? [Number.NaN];
    console.log(
      `x${factor}: real time multiple (median / best run): WSOLA ${rt(median(wsola))} / ${rt(Math.min(...wsola))}, ` +
        `atempo ${rt(median(baseline))} / ${rt(Math.min(...baseline))}; ` +
        `WSOLA/atempo speed ratio ${(median(baseline) / median(wsola)).toFixed(2)} / ` +
        `${(Math.min(...baseline) / Math.min(...wsola)).toFixed(2)}`,
    );
  }
});
