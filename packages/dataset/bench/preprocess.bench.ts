// A 10 s 1080p30 clip to the medium 1:1 bucket (768x768) at 24 fps (240 frames), in one run:
// - ffmpeg alone: the same decode + fps + fill-scale + center-crop + rgb24 conversion, written to /dev/null;
// - decodeFrames: the same through the pipe into Node, frame by frame;
// - preprocessSamples: the whole group (start image, 10 s of audio decoded, normalized and fitted,
//   every 89-frame window assembled), as the trainer pulls it, without the cache.
// Frames per second = 240 / mean time. Peak RSS is printed to show memory stays at one clip.
import { execFile, execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { mediaTools } from "@a2v/audio";
import { afterAll, bench, describe } from "vitest";
import { preprocessSamples } from "../src/preprocess/index.js";
import { decodeFrames, fillCropFilter, rateArg } from "../src/preprocess/video.js";

const run = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), "a2v-preprocess-bench-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const ffmpeg = mediaTools().ffmpeg.path;
const clip = join(dir, "clip_end.mp4");
const start = join(dir, "clip_start.png");
const quiet = ["-hide_banner", "-loglevel", "error", "-nostdin", "-y"];
execFileSync(ffmpeg, [
  ...quiet,
  ...["-f", "lavfi", "-i", "testsrc2=size=1920x1080:rate=30:duration=10"],
  ...["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=10"],
  ...["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", clip],
]);
execFileSync(ffmpeg, [...quiet, "-i", clip, "-frames:v", "1", start]);

const bucket = { width: 768, height: 768 };
const fps = 24;
const options = { time: 0, iterations: 3, warmupTime: 0, warmupIterations: 1 };
let peakRss = 0;
const sampleRss = () => {
  peakRss = Math.max(peakRss, process.memoryUsage().rss);
};

describe("10 s 1080p30 -> 768x768 @ 24 fps (240 frames)", () => {
  bench(
    "ffmpeg CLI alone (decode+fps+scale+crop+rgb24 to /dev/null)",
    async () => {
      const vf = `fps=fps=${rateArg(fps)}:round=up,${fillCropFilter(bucket)}`;
      await run(ffmpeg, [...quiet, "-i", clip, "-an", "-vf", vf, "-f", "rawvideo", "-pix_fmt", "rgb24", "/dev/null"]);
    },
    options,
  );

  bench(
    "decodeFrames (through the pipe into Node)",
    async () => {
      let frames = 0;
      for await (const _ of decodeFrames(clip, { bucket, fps })) frames++;
      if (frames !== 240) throw new Error(`expected 240 frames, got ${frames}`);
      sampleRss();
    },
    options,
  );

  bench(
    "preprocessSamples (2 windows of 89 + audio, no cache)",
    async () => {
      let samples = 0;
      const group = { name: "clip", startFile: start, audioFile: clip, endFile: clip, caption: "c" };
      for await (const _ of preprocessSamples([group], {
        bucket,
        numberOfFrames: 89,
        frameRate: fps,
        windows: "all",
      })) {
        samples++;
        sampleRss();
      }
      if (samples !== 2) throw new Error(`expected 2 samples, got ${samples}`);
    },
    options,
  );
});

afterAll(() => {
  console.log(`peak RSS of the bench process: ${(peakRss / 2 ** 20).toFixed(0)} MiB`);
});
