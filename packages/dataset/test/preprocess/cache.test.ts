import { appendFileSync, copyFileSync, readdirSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { GroupReport, PreprocessGroup, SampleStreamOptions, TrainingSample } from "../../src/preprocess/index.js";
import { preprocessSamples } from "../../src/preprocess/stream.js";
import { ffmpeg, lavfiVideo, tempDir } from "./fixtures.js";

const tmp = tempDir("cache");
afterAll(() => tmp.remove());

let group: PreprocessGroup;
beforeAll(() => {
  ffmpeg("-f", "lavfi", "-i", "testsrc2=size=80x60", "-frames:v", "1", tmp.path("c_start.png"));
  ffmpeg("-f", "lavfi", "-i", "sine=frequency=500:sample_rate=44100:duration=1", tmp.path("c_audio.wav"));
  lavfiVideo(tmp.path("c_end.mp4"), "testsrc=size=80x60:rate=24:duration=1");
  group = {
    name: "c",
    startFile: tmp.path("c_start.png"),
    audioFile: tmp.path("c_audio.wav"),
    endFile: tmp.path("c_end.mp4"),
    caption: "cached",
  };
});

async function run(groups: PreprocessGroup[], options: Partial<SampleStreamOptions> = {}) {
  const samples: TrainingSample[] = [];
  const reports: GroupReport[] = [];
  for await (const s of preprocessSamples(groups, {
    bucket: { width: 32, height: 32 },
    numberOfFrames: 9,
    frameRate: 24,
    windows: "all",
    cacheDir: tmp.path("cache"),
    onGroup: (r) => reports.push(r),
    ...options,
  })) {
    samples.push(s);
  }
  return { samples, reports };
}

describe("content-addressed cache", () => {
  it("reads a second run back byte for byte, also from files at other paths", async () => {
    const first = await run([group]);
    expect(first.reports[0]!.cached).toBe(false);
    expect(first.samples).toHaveLength(2);
    // The same bytes under other names: still a hit (the key is the content, not the path).
    for (const f of ["start.png", "audio.wav", "end.mp4"]) copyFileSync(tmp.path(`c_${f}`), tmp.path(`moved_${f}`));
    const moved = {
      ...group,
      startFile: tmp.path("moved_start.png"),
      audioFile: tmp.path("moved_audio.wav"),
      endFile: tmp.path("moved_end.mp4"),
    };
    const second = await run([moved]);
    expect(second.reports[0]!.cached).toBe(true);
    expect(second.reports[0]!.files.end).toBe(moved.endFile);
    expect(second.samples).toHaveLength(2);
    second.samples.forEach((s, i) => {
      const a = first.samples[i]!;
      expect(Buffer.compare(s.pixels, a.pixels)).toBe(0);
      expect(s.audio.map((c) => Array.from(c))).toEqual(a.audio.map((c) => Array.from(c)));
      const { pixels: _p, audio: _a, ...info } = s;
      const { pixels: _p2, audio: _a2, ...expected } = a;
      expect(info).toEqual(expected);
    });
  });

  it("misses when a setting or a file's bytes change", async () => {
    expect((await run([group], { frameRate: 25 })).reports[0]!.cached).toBe(false);
    appendFileSync(tmp.path("c_start.png"), Buffer.from([0]));
    expect((await run([group])).reports[0]!.cached).toBe(false);
  });

  it("leaves no partial entry when the consumer stops early", async () => {
    const before = readdirSync(tmp.path("cache")).length;
    for await (const _ of preprocessSamples([{ ...group, caption: "other" }], {
      bucket: { width: 32, height: 32 },
      numberOfFrames: 9,
      frameRate: 24,
      windows: "all",
      cacheDir: tmp.path("cache"),
    })) {
      break;
    }
    expect(readdirSync(tmp.path("cache"))).toHaveLength(before);
  });
});
