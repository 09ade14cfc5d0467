import { execFileSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { mediaTools } from "@a2v/audio";
import unzipper from "unzipper";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadDataset } from "../../src/load.js";
import {
  formatPreprocessSummary,
  groupsFromManifest,
  type ManifestLike,
  type PreprocessGroup,
  preprocess,
} from "../../src/preprocess/index.js";
import type { DatasetManifest } from "../../src/types.js";
import { writeZip } from "../helpers/zip.js";
import { ffmpeg, lavfiVideo, tempDir } from "./fixtures.js";

const tmp = tempDir("preprocess");
afterAll(() => tmp.remove());

let groups: PreprocessGroup[];
beforeAll(() => {
  ffmpeg("-f", "lavfi", "-i", "testsrc2=size=120x90", "-frames:v", "1", tmp.path("a_start.jpg"));
  ffmpeg("-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100:duration=2", tmp.path("a_audio.mp3"));
  lavfiVideo(tmp.path("a_end.mp4"), "testsrc=size=120x90:rate=30:duration=1.5");
  lavfiVideo(tmp.path("b_start.mov"), "testsrc2=size=90x120:rate=24:duration=1", { sine: { hz: 330, seconds: 1 } });
  lavfiVideo(tmp.path("b_end.mp4"), "mandelbrot=size=90x120:rate=24,trim=duration=1");
  groups = [
    {
      name: "a",
      startFile: tmp.path("a_start.jpg"),
      audioFile: tmp.path("a_audio.mp3"),
      endFile: tmp.path("a_end.mp4"),
      caption: "trig first",
    },
    { name: "b", startFile: tmp.path("b_start.mov"), endFile: tmp.path("b_end.mp4"), caption: "trig second" },
  ];
});

function ffprobe(file: string): { streams: Record<string, string | number>[]; format: { duration: string } } {
  const out = execFileSync(mediaTools().ffprobe.path, [
    "-v",
    "error",
    "-count_frames",
    "-print_format",
    "json",
    "-show_streams",
    "-show_format",
    file,
  ]);
  return JSON.parse(out.toString());
}

describe("preprocess (CLI entry point)", () => {
  it("caches every sample, writes preprocess.json and a debug archive that ffprobe decodes", async () => {
    const outDir = tmp.path("out");
    const progress: number[] = [];
    const summary = await preprocess({
      groups,
      outDir,
      bucket: { width: 64, height: 48 },
      numberOfFrames: 9,
      frameRate: 24,
      debugDataset: true,
      onProgress: (p) => progress.push(p.groupsDone),
    });
    expect(progress).toEqual([1, 2]);
    expect(summary.samples).toBe(2);
    expect(summary.cachedGroups).toBe(0);
    expect(summary.groups.map((g) => g.name)).toEqual(["a", "b"]);
    expect(summary.settings).toMatchObject({
      numberOfFrames: 9,
      frameRate: 24,
      audioSampleRate: 16000,
      windows: "first",
    });
    expect(JSON.parse(readFileSync(summary.manifest, "utf8")).samples).toBe(2);

    const zip = await unzipper.Open.file(summary.debugDataset!);
    const names = zip.files.map((f) => f.path).sort();
    expect(names).toEqual([
      "manifest.json",
      "samples/a.s0.w0.mp4",
      "samples/a.s0.w0.txt",
      "samples/b.s0.w0.mp4",
      "samples/b.s0.w0.txt",
    ]);
    const read = (name: string) => zip.files.find((f) => f.path === name)!.buffer();
    expect((await read("samples/b.s0.w0.txt")).toString()).toBe("trig second\n");
    const manifest = JSON.parse((await read("manifest.json")).toString());
    expect(manifest.samples[1]).toMatchObject({
      id: "b.s0.w0",
      video: "samples/b.s0.w0.mp4",
      width: 64,
      height: 48,
      frames: 9,
      fps: 24,
      sourceFiles: { start: "b_start.mov", audio: "b_start.mov", end: "b_end.mp4" },
      sceneBoundaries: null,
      warnings: [],
    });
    expect(manifest.samples[0].audioStretch).toBeCloseTo(1.5 / 2, 3);

    writeFileSync(tmp.path("a.mp4"), await read("samples/a.s0.w0.mp4"));
    const probe = ffprobe(tmp.path("a.mp4"));
    const video = probe.streams.find((s) => s.codec_type === "video")!;
    const audio = probe.streams.find((s) => s.codec_type === "audio")!;
    expect(video).toMatchObject({
      codec_name: "h264",
      pix_fmt: "yuv420p",
      width: 64,
      height: 48,
      nb_read_frames: "9",
      avg_frame_rate: "24/1",
    });
    expect(audio).toMatchObject({ codec_name: "aac", sample_rate: "48000", channels: 2 });
    expect(Number(probe.format.duration)).toBeCloseTo(0.375, 1);

    const again = await preprocess({
      groups,
      outDir,
      bucket: { width: 64, height: 48 },
      numberOfFrames: 9,
      frameRate: 24,
    });
    expect(again.cachedGroups).toBe(2);
    expect(again.samples).toBe(2);
    const text = formatPreprocessSummary(again);
    expect(text).toMatch(/^2 groups -> 2 samples \(64x48, 9 frames at 24 fps, audio 16000 Hz x2\); 2 from cache\n/);
    expect(text).toContain("  a: 1 samples, clip 1.50 s, audio 2.00 s (stretch 0.75) [cached]\n");
    expect(again.debugDataset).toBeUndefined();
  });

  it("runs on what loadDataset extracted from a zip", async () => {
    const zip = await writeZip(tmp.path("ds.zip"), [
      { name: "a_start.jpg", file: groups[0]!.startFile },
      { name: "a_audio.mp3", file: groups[0]!.audioFile! },
      { name: "a_end.mp4", file: groups[0]!.endFile },
      { name: "a.txt", content: "a test pattern" },
      { name: "b_start.mov", file: groups[1]!.startFile },
      { name: "b_end.mp4", file: groups[1]!.endFile },
      { name: "b.txt", content: "a fractal" },
    ]);
    const manifest = await loadDataset(zip, {
      extractTo: tmp.path("extracted"),
      triggerPhrase: "trig",
      numberOfFrames: 9,
    });
    const summary = await preprocess({
      groups: manifest,
      outDir: tmp.path("from-zip"),
      bucket: { width: 32, height: 32 },
      numberOfFrames: 9,
      frameRate: 24,
    });
    expect(summary.groups.map((g) => [g.name, g.samples.length, g.samples[0]!.caption])).toEqual([
      ["a", 1, "trig a test pattern"],
      ["b", 1, "trig a fractal"],
    ]);
  });

  it("takes a loadDataset manifest, skipping skipped groups", () => {
    // Type-level: loadDataset's manifest is accepted as is.
    const accepts = (m: DatasetManifest): ManifestLike => m;
    expect(accepts).toBeTypeOf("function");
    const file = (p: string) => ({ archivePath: p, localPath: `/x/${p}` });
    const manifest = {
      groups: [
        {
          name: "ok",
          start: file("ok_start.png"),
          audio: file("ok_audio.wav"),
          target: file("ok_end.mp4"),
          caption: "c",
          status: "ok" as const,
        },
        {
          name: "short",
          start: file("s_start.mp4"),
          target: file("s_end.mp4"),
          caption: "c",
          status: "skipped" as const,
        },
        { name: "v", start: file("v_start.mp4"), target: file("v_end.mp4"), caption: "d", status: "ok" as const },
      ],
    };
    expect(groupsFromManifest(manifest)).toEqual([
      {
        name: "ok",
        startFile: "/x/ok_start.png",
        audioFile: "/x/ok_audio.wav",
        endFile: "/x/ok_end.mp4",
        caption: "c",
        labels: { start: "ok_start.png", audio: "ok_audio.wav", end: "ok_end.mp4" },
      },
      {
        name: "v",
        startFile: "/x/v_start.mp4",
        endFile: "/x/v_end.mp4",
        caption: "d",
        labels: { start: "v_start.mp4", end: "v_end.mp4" },
      },
    ]);
    expect(() =>
      groupsFromManifest({ groups: [{ ...manifest.groups[0]!, target: { archivePath: "t.mp4" } }] }),
    ).toThrow(/extractTo/);
    expect(existsSync("/x")).toBe(false);
  });
});
