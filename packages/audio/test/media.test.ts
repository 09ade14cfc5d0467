import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { isA2VError } from "@a2v/errors";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { decodeAudio, probeAudio } from "../src/index.js";
import { ffmpeg, tempDir } from "./helpers/media.js";
import { dominantFrequency } from "./helpers/pitch.js";

const { dir, cleanup } = tempDir("media");
const path = (name: string) => join(dir, name);

/** [file, sample rate, channels, duration] of every fixture; all carry a 440 Hz tone. */
const FIXTURES: [string, number, number, number][] = [
  ["tone.wav", 44_100, 1, 1.5],
  ["tone.mp3", 44_100, 1, 1.5],
  ["tone.ogg", 44_100, 1, 1.5],
  ["tone.m4a", 44_100, 1, 1.5],
  ["tone.aac", 44_100, 1, 1.5],
  ["tone.flac", 44_100, 1, 1.5],
  ["stereo.wav", 48_000, 2, 1],
  ["clip.mp4", 48_000, 1, 2],
  ["clip.mov", 48_000, 1, 2],
  ["clip.mkv", 48_000, 1, 2],
  ["clip.avi", 48_000, 1, 2],
];

beforeAll(() => {
  ffmpeg(
    "-f",
    "lavfi",
    "-i",
    "sine=frequency=440:sample_rate=44100:duration=1.5",
    "-af",
    "volume=0.5",
    path("tone.wav"),
  );
  for (const ext of ["mp3", "ogg", "m4a", "aac", "flac"]) ffmpeg("-i", path("tone.wav"), path(`tone.${ext}`));
  ffmpeg(
    "-f",
    "lavfi",
    "-i",
    "sine=frequency=440:sample_rate=48000:duration=1",
    "-f",
    "lavfi",
    "-i",
    "sine=frequency=660:sample_rate=48000:duration=1",
    "-filter_complex",
    "amerge",
    "-c:a",
    "pcm_s16le",
    path("stereo.wav"),
  );
  ffmpeg(
    "-f",
    "lavfi",
    "-i",
    "testsrc=size=64x64:rate=24:duration=2",
    "-f",
    "lavfi",
    "-i",
    "sine=frequency=440:sample_rate=48000:duration=2",
    "-c:v",
    "libx264",
    "-pix_fmt",
    "yuv420p",
    "-c:a",
    "aac",
    "-shortest",
    path("clip.mp4"),
  );
  ffmpeg("-i", path("clip.mp4"), "-c", "copy", path("clip.mov"));
  ffmpeg("-i", path("clip.mp4"), "-c", "copy", path("clip.mkv"));
  ffmpeg("-i", path("clip.mp4"), "-c:v", "mpeg4", "-c:a", "libmp3lame", path("clip.avi"));
  ffmpeg("-f", "lavfi", "-i", "testsrc=size=64x64:rate=24:duration=1", "-pix_fmt", "yuv420p", path("silent.mp4"));
  writeFileSync(path("garbage.mp3"), Buffer.from("this is not audio at all, just text pretending to be mp3"));
});
afterAll(cleanup);

describe("probeAudio", () => {
  it.each(FIXTURES)("%s: sample rate, channels, duration", async (file, sampleRate, channels, duration) => {
    const probe = await probeAudio(path(file));
    expect(probe.sampleRate).toBe(sampleRate);
    expect(probe.channels).toBe(channels);
    expect(probe.durationSeconds).toBeGreaterThan(duration - 0.05);
    expect(probe.durationSeconds).toBeLessThan(duration + 0.1);
    expect(probe.hasVideo).toBe(file.startsWith("clip"));
    // Plain audio stays on the pure-JS prober; containers it misreads go to ffprobe.
    const expected = /\.(wav|mp3|ogg|flac|aac)$/.test(file) ? "music-metadata" : "ffprobe";
    expect(probe.source).toBe(expected);
  });
  it("reports unreadable and audio-less files", async () => {
    await expect(probeAudio(path("garbage.mp3"))).rejects.toMatchObject({ code: "corrupt_media", status: 422 });
    await expect(probeAudio(path("silent.mp4"))).rejects.toMatchObject({ code: "no_audio_stream", status: 422 });
    await expect(probeAudio(path("missing.flac"))).rejects.toMatchObject({ code: "media_not_found", status: 422 });
  });
});

describe("decodeAudio", () => {
  it.each(FIXTURES)("%s decodes to the file's own rate and channels", async (file, sampleRate, channels, duration) => {
    const { sampleRate: rate, pcm } = await decodeAudio(path(file));
    expect(rate).toBe(sampleRate);
    expect(pcm).toHaveLength(channels);
    // Decoders add or trim codec priming/padding: allow a few ms, never assert exact counts.
    expect(Math.abs(pcm[0]!.length / rate - duration)).toBeLessThan(0.06);
    const middle = pcm[0]!.subarray(Math.round(0.25 * rate), Math.round(0.75 * rate));
    expect(dominantFrequency(middle, rate, 300, 600)).toBeCloseTo(440, 0);
  });

  it("resamples and down-mixes on request, keeping both channels' content", async () => {
    const { sampleRate, pcm } = await decodeAudio(path("stereo.wav"), { sampleRate: 16_000, channels: 1 });
    expect(sampleRate).toBe(16_000);
    expect(pcm).toHaveLength(1);
    expect(pcm[0]!.length).toBe(16_000);
    const mono = pcm[0]!.subarray(2000, 14_000);
    expect(dominantFrequency(mono, 16_000, 400, 480)).toBeCloseTo(440, 0);
    expect(dominantFrequency(mono, 16_000, 600, 720)).toBeCloseTo(660, 0);
  });

  it("keeps the stereo channels apart and reads a window", async () => {
    const { pcm } = await decodeAudio(path("stereo.wav"), { startSeconds: 0.25, durationSeconds: 0.5 });
    expect(pcm).toHaveLength(2);
    expect(pcm[0]!.length).toBe(24_000);
    expect(dominantFrequency(pcm[0]!, 48_000, 300, 800)).toBeCloseTo(440, 0);
    expect(dominantFrequency(pcm[1]!, 48_000, 300, 800)).toBeCloseTo(660, 0);
  });

  it("stops ffmpeg and rejects with the AbortError when aborted", async () => {
    const controller = new AbortController();
    const decoding = decodeAudio(path("clip.mkv"), { sampleRate: 48_000, channels: 1, signal: controller.signal });
    controller.abort();
    await expect(decoding).rejects.toMatchObject({ name: "AbortError" });
  });

  it("names the file and the problem when it cannot decode", async () => {
    const failures: [string, string][] = [
      ["missing.wav", "media_not_found"],
      ["garbage.mp3", "corrupt_media"],
      ["silent.mp4", "no_audio_stream"],
    ];
    for (const [file, code] of failures) {
      const error = await decodeAudio(path(file), { sampleRate: 16_000, channels: 1 }).catch((e: unknown) => e);
      expect(isA2VError(error), file).toBe(true);
      if (!isA2VError(error)) continue;
      expect(error.code).toBe(code);
      expect(error.status).toBe(422);
      expect(error.message).toContain(path(file));
      expect(error.details[0]?.file).toBe(path(file));
    }
  });
});
