import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { DatasetErrorCodes, probeMedia } from "../src/index.js";
import { rejection } from "./helpers/expect.js";
import { ffmpeg, makeAudio, makeImage, makeVideo, tempDir } from "./helpers/media.js";

let dir: string;
let remove: () => Promise<void>;
beforeAll(async () => {
  ({ dir, remove } = await tempDir("a2v-probe-"));
});
afterAll(() => remove());

describe("probeMedia", () => {
  test("every audio format of the spec: codec, rate, duration", async () => {
    const expected: Record<string, string> = {
      wav: "pcm_s16le",
      mp3: "mp3",
      ogg: "vorbis",
      m4a: "aac",
      aac: "aac",
      flac: "flac",
    };
    await Promise.all(
      Object.entries(expected).map(async ([ext, codec]) => {
        const probe = await probeMedia(await makeAudio(join(dir, `tone.${ext}`), 1));
        expect(probe.video, ext).toBeUndefined();
        expect(probe.audio, ext).toMatchObject({ codec, sampleRate: 16000, channels: 1 });
        // Encoder priming/padding differs per codec; the duration is right to a few frames.
        expect(probe.audio!.durationSec, ext).toBeGreaterThan(0.95);
        expect(probe.audio!.durationSec, ext).toBeLessThan(1.1);
      }),
    );
  });

  test("every video container of the spec: size, fps, exact frame count, audio track", async () => {
    for (const ext of ["mp4", "mov", "mkv", "avi"]) {
      const path = await makeVideo(join(dir, `clip.${ext}`), { frames: 30, fps: 25, size: "96x64", withAudio: true });
      const probe = await probeMedia(path);
      expect(probe.video, ext).toMatchObject({ width: 96, height: 64, fps: 25, frames: 30 });
      expect(probe.video!.durationSec, ext).toBeCloseTo(1.2, 1);
      expect(probe.audio, ext).toBeDefined();
      // AAC/MP3 priming makes the track a little longer than the video, by container.
      expect(probe.audio!.durationSec, ext).toBeGreaterThan(1.15);
      expect(probe.audio!.durationSec, ext).toBeLessThan(1.3);
    }
    const silent = await probeMedia(await makeVideo(join(dir, "silent.mkv"), { frames: 12 }));
    expect(silent.audio).toBeUndefined();
    expect(silent.video!.frames).toBe(12);
  });

  test("pictures decode as one frame; rotated video reports its display size", async () => {
    const png = await probeMedia(await makeImage(join(dir, "p.png"), "40x30"));
    expect(png.video).toMatchObject({ codec: "png", width: 40, height: 30, frames: 1 });
    const jpg = await probeMedia(await makeImage(join(dir, "p.jpeg"), "40x30"));
    expect(jpg.video).toMatchObject({ codec: "mjpeg", width: 40, height: 30 });
    const source = await makeVideo(join(dir, "wide.mp4"), { frames: 5, size: "96x64" });
    const rotated = join(dir, "rotated.mp4");
    await ffmpeg(["-i", source, "-c", "copy", "-metadata:s:v:0", "rotate=90", rotated]);
    expect((await probeMedia(rotated)).video).toMatchObject({ width: 64, height: 96 });
  });

  test("unreadable files are corrupt_media (422) naming the label", async () => {
    const text = join(dir, "fake.mp4");
    await writeFile(text, "definitely not an mp4");
    const error = await rejection(probeMedia(text, { label: "clips/fake_end.mp4" }));
    expect(error.code).toBe(DatasetErrorCodes.corruptMedia);
    expect(error.status).toBe(422);
    expect(error.message).toMatch(/^clips\/fake_end\.mp4: ffprobe cannot read it as \.mp4 \(.+\)$/);
    // The local (temp) path never shows.
    expect(error.message).not.toContain(dir);
    expect(error.details[0]).toMatchObject({ code: "corrupt_media", file: "clips/fake_end.mp4" });

    const brokenPng = join(dir, "broken.png");
    const png = await makeImage(join(dir, "whole.png"), "64x64");
    const bytes = await readFile(png);
    await writeFile(brokenPng, bytes.subarray(0, 60));
    expect((await rejection(probeMedia(brokenPng))).code).toBe(DatasetErrorCodes.corruptMedia);
  });
});
