import { join } from "node:path";
import { isA2VError } from "@a2v/errors";
import { afterAll, describe, expect, it } from "vitest";
import { decodeAudio, encodeAudio, probeAudio } from "../src/index.js";
import { sine, tempDir } from "./helpers/media.js";
import { dominantFrequency } from "./helpers/pitch.js";

const { dir, cleanup } = tempDir("encode");
afterAll(cleanup);

describe("encodeAudio", () => {
  const pcm = [sine(440, 0.5, 24_000, 0.6), sine(880, 0.5, 24_000, -0.3)];

  it("writes float32 WAV that decodes back bit-exact", async () => {
    const file = join(dir, "exact.wav");
    await encodeAudio({ sampleRate: 24_000, pcm }, file, { wavFormat: "float32" });
    const back = await decodeAudio(file);
    expect(back.sampleRate).toBe(24_000);
    expect(back.pcm).toEqual(pcm);
  });

  it("writes 16-bit WAV within one quantisation step, clipping out-of-range samples", async () => {
    const file = join(dir, "pcm16.wav");
    const loud = [Float32Array.of(0, 0.5, -0.5, 1.5, -2)];
    await encodeAudio({ sampleRate: 24_000, pcm }, file);
    const back = await decodeAudio(file);
    let error = 0;
    for (let c = 0; c < 2; c++) {
      for (let i = 0; i < pcm[c]!.length; i++) error = Math.max(error, Math.abs(back.pcm[c]![i]! - pcm[c]![i]!));
    }
    expect(error).toBeLessThanOrEqual(0.5 / 32768 + 1e-7);
    const clipped = join(dir, "clipped.wav");
    await encodeAudio({ sampleRate: 8000, pcm: loud }, clipped);
    const [values] = (await decodeAudio(clipped)).pcm;
    expect([...values!].map((v) => Math.round(v * 32768))).toEqual([0, 16384, -16384, 32767, -32768]);
  });

  it("encodes AAC in m4a through ffmpeg, keeping pitch, channels and (within priming) duration", async () => {
    const file = join(dir, "out.m4a");
    await encodeAudio({ sampleRate: 24_000, pcm }, file);
    const probe = await probeAudio(file);
    expect(probe.codec).toBe("aac");
    expect(probe.channels).toBe(2);
    const back = await decodeAudio(file);
    expect(Math.abs(back.pcm[0]!.length / 24_000 - 0.5)).toBeLessThan(0.06);
    expect(dominantFrequency(back.pcm[0]!.subarray(2400, 9600), 24_000, 300, 1000)).toBeCloseTo(440, 0);
    expect(dominantFrequency(back.pcm[1]!.subarray(2400, 9600), 24_000, 600, 1200)).toBeCloseTo(880, 0);
  });

  it("reports an encoder failure with the file name", async () => {
    const file = join(dir, "out.not-a-format");
    const error = await encodeAudio({ sampleRate: 24_000, pcm }, file).catch((e: unknown) => e);
    expect(isA2VError(error) && error.code === "encode_failed" && error.message.includes(file)).toBe(true);
  });
});
