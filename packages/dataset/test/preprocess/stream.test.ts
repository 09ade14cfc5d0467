import { writeFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { GroupReport, PreprocessGroup, SampleStreamOptions, TrainingSample } from "../../src/preprocess/index.js";
import { preprocessSamples } from "../../src/preprocess/stream.js";
import { decodeFrames, decodeStartImage } from "../../src/preprocess/video.js";
import { ffmpeg, lavfiVideo, psnr, tempDir } from "./fixtures.js";

const tmp = tempDir("stream");
afterAll(() => tmp.remove());

const bucket = { width: 64, height: 64 };
const frameSize = 64 * 64 * 3;
const base = { bucket, numberOfFrames: 9, frameRate: 24 } satisfies SampleStreamOptions;

async function run(groups: PreprocessGroup[], options: SampleStreamOptions) {
  const samples: TrainingSample[] = [];
  const reports: GroupReport[] = [];
  for await (const s of preprocessSamples(groups, { ...options, onGroup: (r) => reports.push(r) })) samples.push(s);
  return { samples, reports };
}

async function naturalFrames(file: string, fps: number): Promise<Uint8Array[]> {
  const out: Uint8Array[] = [];
  for await (const f of decodeFrames(file, { bucket, fps })) out.push(f.slice());
  return out;
}

function frame(sample: TrainingSample, i: number): Uint8Array {
  return sample.pixels.subarray(i * frameSize, (i + 1) * frameSize);
}

/** Index of the frame in `candidates` closest to `f` (mean absolute difference). */
function closest(f: Uint8Array, candidates: Uint8Array[]): number {
  let best = -1;
  let bestDiff = Number.POSITIVE_INFINITY;
  candidates.forEach((c, i) => {
    let d = 0;
    for (let k = 0; k < c.length; k++) d += Math.abs(c[k]! - f[k]!);
    if (d < bestDiff) [best, bestDiff] = [i, d];
  });
  return best;
}

/** Dominant frequency from zero crossings (clean sines only). */
function sineHz(pcm: Float32Array, rate: number): number {
  let crossings = 0;
  for (let i = 1; i < pcm.length; i++) if (pcm[i - 1]! < 0 !== pcm[i]! < 0) crossings++;
  return (crossings / 2) * (rate / pcm.length);
}

let group: PreprocessGroup;
let end: string;
beforeAll(() => {
  ffmpeg("-f", "lavfi", "-i", "testsrc2=size=160x120", "-frames:v", "1", tmp.path("g_start.png"));
  ffmpeg("-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=3", tmp.path("g_audio.wav"));
  // Every frame a different gray level, so a frame's position in time can be recovered from its content.
  end = lavfiVideo(tmp.path("g_end.mp4"), "color=black:s=96x64:r=24:d=2,geq=lum='16+4*N':cb=128:cr=128");
  group = {
    name: "g",
    startFile: tmp.path("g_start.png"),
    audioFile: tmp.path("g_audio.wav"),
    endFile: end,
    caption: "trig a ramp",
  };
});

describe("preprocessSamples", () => {
  it("assembles the first window: start image as frame 0, target frames after, audio fitted to the sample", async () => {
    const { samples, reports } = await run([group], base);
    expect(samples).toHaveLength(1);
    const [s] = samples;
    expect(s!.pixels.length).toBe(9 * frameSize);
    expect([s!.frames, s!.width, s!.height, s!.fps]).toEqual([9, 64, 64, 24]);
    expect(s!.caption).toBe("trig a ramp");
    const start = await decodeStartImage(group.startFile, bucket);
    expect(Buffer.compare(frame(s!, 0), start)).toBe(0);
    // Independent reference: the same PNG through ffmpeg's fill+crop.
    const [viaFfmpeg] = await naturalFrames(group.startFile, 24);
    expect(psnr(frame(s!, 0), viaFfmpeg!)).toBeGreaterThan(35);
    const natural = await naturalFrames(end, 24);
    expect(natural).toHaveLength(48);
    for (let i = 1; i < 9; i++) expect(Buffer.compare(frame(s!, i), natural[i]!)).toBe(0);
    // Audio: 9 frames at 24 fps = 0.375 s = 6000 samples at 16 kHz, stereo; 3 s of audio over a 2 s
    // clip means this window's 0.5625 s of audio was time-stretched by 2/3, pitch kept.
    expect(s!.audio).toHaveLength(2);
    expect(s!.audio.map((c) => c.length)).toEqual([6000, 6000]);
    expect(s!.audioSamples).toBe(6000);
    expect(s!.audioStretch).toBeCloseTo(2 / 3, 3);
    expect(sineHz(s!.audio[0]!, 16000)).toBeGreaterThan(420);
    expect(sineHz(s!.audio[0]!, 16000)).toBeLessThan(460);
    expect(reports[0]!.clipSeconds).toBeCloseTo(2, 2);
    expect(reports[0]!.audioSeconds).toBeCloseTo(3, 2);
    expect(reports[0]!.audioGain).toBeGreaterThan(1);
  });

  it("takes every non-overlapping window with windows: all", async () => {
    const { samples } = await run([group], { ...base, windows: "all" });
    // 48 frames -> 5 windows of 9, the last 3 frames dropped.
    expect(samples.map((s) => s.sourceFrames)).toEqual([0, 9, 18, 27, 36].map((a) => [a, a + 9]));
    expect(samples.map((s) => s.startsWithStartImage)).toEqual([true, false, false, false, false]);
    const natural = await naturalFrames(end, 24);
    expect(Buffer.compare(frame(samples[2]!, 0), natural[18]!)).toBe(0);
    for (const s of samples) expect(s.audio[0]!.length).toBe(6000);
  });

  it("resamples the whole target to exactly numberOfFrames with autoScaleInput", async () => {
    const { samples } = await run([group], { ...base, autoScaleInput: true, frameRate: 24 });
    expect(samples).toHaveLength(1);
    const [s] = samples;
    expect(s!.pixels.length).toBe(9 * frameSize);
    const natural = await naturalFrames(end, 24);
    // Frame k comes from time k * 2 s / 9, i.e. natural frame ~ k * 48 / 9.
    for (let k = 1; k < 9; k++) expect(Math.abs(closest(frame(s!, k), natural) - (k * 48) / 9)).toBeLessThanOrEqual(1);
    // The whole 3 s of audio squeezed into 9/24 s.
    expect(s!.audioStretch).toBeCloseTo(0.375 / 3, 3);
    expect(s!.audio[0]!.length).toBe(6000);
  });

  it("trims/pads instead of stretching without audioPreservePitch", async () => {
    ffmpeg("-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=0.25", tmp.path("short.wav"));
    const { samples } = await run([{ ...group, audioFile: tmp.path("short.wav") }], {
      ...base,
      audioPreservePitch: false,
    });
    const left = samples[0]!.audio[0]!;
    expect(left.length).toBe(6000);
    expect(samples[0]!.audioStretch).toBe(1);
    expect(Math.max(...left.subarray(500, 3500).map(Math.abs))).toBeGreaterThan(0.5);
    expect(Math.max(...left.subarray(4100).map(Math.abs))).toBe(0);
  });

  it("uses a start video's first frame and audio track when there is no image or audio file", async () => {
    const startVideo = lavfiVideo(tmp.path("v_start.mp4"), "testsrc=size=128x96:rate=24:duration=1", {
      sine: { hz: 660, seconds: 1 },
    });
    const { samples, reports } = await run([{ name: "v", startFile: startVideo, endFile: end, caption: "c" }], {
      ...base,
      audioNormalize: false,
    });
    const [first] = await naturalFrames(startVideo, 24);
    expect(psnr(frame(samples[0]!, 0), first!)).toBeGreaterThan(35);
    expect(reports[0]!.files.audio).toBe(startVideo);
    expect(reports[0]!.audioGain).toBe(1);
    expect(sineHz(samples[0]!.audio[1]!, 16000)).toBeGreaterThan(640);
    expect(sineHz(samples[0]!.audio[1]!, 16000)).toBeLessThan(680);
  });

  it("emits every bucket's exact size", async () => {
    const buckets = [
      [512, 288],
      [512, 512],
      [288, 512],
      [768, 448],
      [768, 768],
      [448, 768],
      [960, 544],
      [960, 960],
      [544, 960],
    ] as const;
    for (const [width, height] of buckets) {
      const { samples } = await run([group], { ...base, bucket: { width, height } });
      const s = samples[0]!;
      expect([s.width, s.height, s.pixels.length]).toEqual([width, height, 9 * width * height * 3]);
    }
  });
});

describe("bad media", () => {
  it("fails with a 422 naming the file when the target is not a video", async () => {
    const bogus = tmp.path("bogus_end.mp4");
    writeFileSync(bogus, "not a video");
    await expect(run([{ ...group, endFile: bogus }], base)).rejects.toMatchObject({
      code: "corrupt_media",
      status: 422,
      details: [{ file: bogus }],
    });
  });

  it("fails with a 422 when neither an audio file nor a start video track exists", async () => {
    const { audioFile: _a, ...noAudio } = group;
    await expect(run([noAudio], base)).rejects.toMatchObject({ status: 422 });
  });
});
