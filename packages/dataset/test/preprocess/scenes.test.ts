import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { GroupReport, PreprocessGroup, SampleStreamOptions, TrainingSample } from "../../src/preprocess/index.js";
import { ContentDetector, scenesFromCuts } from "../../src/preprocess/scenes.js";
import { preprocessSamples } from "../../src/preprocess/stream.js";
import { decodeFrames } from "../../src/preprocess/video.js";
import { ffmpeg, lavfiVideo, tempDir } from "./fixtures.js";

const tmp = tempDir("scenes");
afterAll(() => tmp.remove());

const size = "96x64";
// Four shots from different test sources, hard cuts at frames 48, 84 and 132 (of 180 at 24 fps).
const SHOTS = [
  `testsrc=size=${size}:rate=24:duration=2`,
  `smptebars=size=${size}:rate=24:duration=1.5`,
  `rgbtestsrc=size=${size}:rate=24:duration=2`,
  `testsrc2=size=${size}:rate=24:duration=2`,
];
const HZ = [300, 600, 900, 1200];

let cuts: string;
let single: string;
let group: PreprocessGroup;
beforeAll(() => {
  const graph = `${SHOTS.map((s, i) => `${s}[v${i}]`).join(";")};[v0][v1][v2][v3]concat=n=4:v=1:a=0`;
  cuts = lavfiVideo(tmp.path("cuts_end.mp4"), graph);
  single = lavfiVideo(tmp.path("single.mp4"), `testsrc2=size=${size}:rate=24:duration=6`);
  // One tone per shot, so each scene's audio slice can be told apart.
  const tones = [2, 1.5, 2, 2].map((d, i) => `sine=frequency=${HZ[i]}:sample_rate=48000:duration=${d}[a${i}]`);
  ffmpeg("-f", "lavfi", "-i", `${tones.join(";")};[a0][a1][a2][a3]concat=n=4:v=0:a=1`, tmp.path("cuts_audio.wav"));
  ffmpeg("-f", "lavfi", "-i", "color=gray:s=96x64", "-frames:v", "1", tmp.path("cuts_start.png"));
  group = {
    name: "cuts",
    startFile: tmp.path("cuts_start.png"),
    audioFile: tmp.path("cuts_audio.wav"),
    endFile: cuts,
    caption: "four shots",
  };
});

async function detect(file: string): Promise<{ cuts: number[]; frames: number }> {
  const detector = new ContentDetector(24);
  let frames = 0;
  for await (const f of decodeFrames(file, { bucket: { width: 96, height: 64 }, fps: 24 })) {
    detector.push(f);
    frames++;
  }
  return { cuts: detector.cuts, frames };
}

function sineHz(pcm: Float32Array, rate: number): number {
  let crossings = 0;
  for (let i = 1; i < pcm.length; i++) if (pcm[i - 1]! < 0 !== pcm[i]! < 0) crossings++;
  return (crossings / 2) * (rate / pcm.length);
}

async function run(options: Partial<SampleStreamOptions>) {
  const samples: TrainingSample[] = [];
  const reports: GroupReport[] = [];
  const warnings: string[] = [];
  for await (const s of preprocessSamples([group], {
    bucket: { width: 64, height: 64 },
    numberOfFrames: 9,
    frameRate: 24,
    splitInputIntoScenes: true,
    splitInputDurationThreshold: 5,
    onGroup: (r) => reports.push(r),
    onWarning: (w) => warnings.push(w.code),
    ...options,
  })) {
    samples.push(s);
  }
  return { samples, report: reports[0]!, warnings };
}

describe("ContentDetector", () => {
  it("finds exactly the planted cuts", async () => {
    expect(await detect(cuts)).toEqual({ cuts: [48, 84, 132], frames: 180 });
  });

  it("finds none in a single moving shot", async () => {
    expect((await detect(single)).cuts).toEqual([]);
  });

  it("suppresses a second cut closer than the minimum scene length", () => {
    const detector = new ContentDetector(24, { minSceneSeconds: 0.5 });
    const black = new Uint8Array(12);
    const white = new Uint8Array(12).fill(255);
    // 0.5 s at 24 fps = 12 frames. A change at 5 is too close to the clip start (frame 0 is the start
    // image), the cut at 14 counts, the flash back at 15 is suppressed, and 27 is far enough again.
    const run = (f: Uint8Array, n: number): Uint8Array[] => Array(n).fill(f);
    const frames = [...run(black, 5), white, ...run(black, 8), white, ...run(black, 12), white];
    for (const f of frames) detector.push(f);
    expect(detector.cuts).toEqual([14, 27]);
    expect(scenesFromCuts(detector.cuts, frames.length)).toEqual([
      [0, 14],
      [14, 27],
      [27, 28],
    ]);
  });
});

describe("scene splitting in the sample stream", () => {
  it("splits a clip longer than the threshold into one sample per scene, with that scene's audio", async () => {
    const { samples, report, warnings } = await run({});
    expect(report.scenes).toEqual([
      [0, 48],
      [48, 84],
      [84, 132],
      [132, 180],
    ]);
    expect(warnings).toEqual([]);
    expect(samples.map((s) => [s.scene, s.sourceFrames])).toEqual([
      [0, [0, 9]],
      [1, [48, 57]],
      [2, [84, 93]],
      [3, [132, 141]],
    ]);
    expect(samples.map((s) => s.startsWithStartImage)).toEqual([true, false, false, false]);
    samples.forEach((s, i) => {
      expect(s.audio[0]!.length).toBe(6000);
      expect(Math.abs(sineHz(s.audio[0]!, 16000) - HZ[i]!)).toBeLessThan(HZ[i]! * 0.05);
    });
  });

  it("takes every window of every scene with windows: all, none crossing a cut", async () => {
    const { samples } = await run({ windows: "all", numberOfFrames: 17 });
    // Scenes of 48, 36, 48, 48 frames hold 2, 2, 2, 2 windows of 17.
    expect(samples.map((s) => [s.scene, s.window, s.sourceFrames[0]])).toEqual([
      [0, 0, 0],
      [0, 1, 17],
      [1, 0, 48],
      [1, 1, 65],
      [2, 0, 84],
      [2, 1, 101],
      [3, 0, 132],
      [3, 1, 149],
    ]);
    for (const s of samples) expect(s.audio[1]!.length).toBe(Math.round((17 / 24) * 16000));
  });

  it("drops scenes shorter than numberOfFrames with a warning", async () => {
    const { samples, warnings } = await run({ numberOfFrames: 41 });
    expect(samples.map((s) => s.scene)).toEqual([0, 2, 3]);
    expect(warnings).toEqual(["scene_too_short"]);
  });

  it("resamples each scene to numberOfFrames with autoScaleInput", async () => {
    const { samples } = await run({ autoScaleInput: true, numberOfFrames: 17 });
    expect(samples.map((s) => s.sourceFrames)).toEqual([
      [0, 48],
      [48, 84],
      [84, 132],
      [132, 180],
    ]);
    for (const s of samples) expect(s.pixels.length).toBe(17 * 64 * 64 * 3);
  });

  it("leaves clips at or below the threshold whole", async () => {
    const { samples, report } = await run({ splitInputDurationThreshold: 10 });
    expect(report.scenes).toBeUndefined();
    expect(samples).toHaveLength(1);
  });
});
