import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { encodeAudio, fitAudioFile, MAX_FIT_SAMPLES, mediaTools } from "../src/index.js";
import { sine, tempDir } from "./helpers/media.js";

const { dir, cleanup } = tempDir("fit-limits");
const input = join(dir, "in.wav");
const long = join(dir, "long.flac");
beforeAll(async () => {
  await encodeAudio({ sampleRate: 16_000, pcm: [sine(440, 0.5, 16_000, 0.25)] }, input);
  // 2.5 hours of 8 kHz mono silence: 72 M samples, over MAX_FIT_SAMPLES, in a small FLAC.
  execFileSync(mediaTools().ffmpeg.path, [
    ...["-hide_banner", "-v", "error", "-y", "-f", "lavfi", "-i", "anullsrc=r=8000:cl=mono"],
    ...["-t", "9000", "-c:a", "flac", long],
  ]);
});
afterAll(cleanup);

describe("fitAudioFile bounds", () => {
  it("a duration shorter than one sample is a usage error (status 400), not a 0-sample WAV", async () => {
    const output = join(dir, "tiny.wav");
    await expect(fitAudioFile({ input, output, durationSeconds: 0.00001 })).rejects.toMatchObject({
      code: "usage",
      status: 400,
      message: expect.stringContaining("--duration 0.00001 s is shorter than one sample at 16000 Hz"),
    });
    expect(existsSync(output)).toBe(false);
  });

  it("a duration past the fit's sample budget is a usage error", async () => {
    await expect(
      fitAudioFile({ input, output: join(dir, "huge.wav"), durationSeconds: 100_000 }),
    ).rejects.toMatchObject({
      code: "usage",
      message: expect.stringMatching(/--duration 100000 s is longer than 1800\.0 s/),
    });
  });

  it("audio longer than the budget is media_too_large (422) from its header, before decoding", async () => {
    expect(9000 * 8000).toBeGreaterThan(MAX_FIT_SAMPLES);
    const started = Date.now();
    await expect(fitAudioFile({ input: long, output: join(dir, "out.wav"), durationSeconds: 2 })).rejects.toMatchObject(
      { status: 422, code: "media_too_large" },
    );
    expect(Date.now() - started).toBeLessThan(5000);
  });
});
