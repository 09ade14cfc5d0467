import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { A2VError } from "@a2v/errors";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { decodeAudio, encodeAudio, fitAudioFile, peakOf, toDbfs } from "../src/index.js";
import { sine, tempDir } from "./helpers/media.js";
import { dominantFrequency } from "./helpers/pitch.js";

const { dir, cleanup } = tempDir("fit-file");
const input = join(dir, "in.wav");
beforeAll(() =>
  encodeAudio({ sampleRate: 48_000, pcm: [sine(440, 1, 48_000, 0.25), sine(660, 1, 48_000, 0.1)] }, input),
);
afterAll(cleanup);

async function rejection(promise: Promise<unknown>): Promise<A2VError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e as A2VError,
  );
  expect(error, "expected a rejection").toBeDefined();
  return error!;
}

// `a2v audio fit` (the command line: exit codes, --json, help) is tested in @a2v/sdk's test/cli-audio.test.ts.
describe("fitAudioFile", () => {
  it("stretches to the exact duration, keeps the pitch, normalises to -1 dBFS and reports it", async () => {
    const output = join(dir, "out.wav");
    const report = await fitAudioFile({ input, output, durationSeconds: 1.6 });
    expect(report).toMatchObject({ sampleRate: 48_000, channels: 2, inputSeconds: 1, outputSeconds: 1.6 });
    expect(report.stretchFactor).toBeCloseTo(1.6, 10);
    expect(report.peakBeforeDbfs).toBeCloseTo(toDbfs(0.25), 3);
    expect(report.peakAfterDbfs).toBeCloseTo(-1, 2);

    const { pcm } = await decodeAudio(output);
    expect(pcm[0]!.length).toBe(76_800);
    expect(toDbfs(peakOf(pcm))).toBeCloseTo(-1, 2);
    expect(dominantFrequency(pcm[0]!.subarray(4800, 72_000), 48_000, 300, 600)).toBeCloseTo(440, 0);
  });

  it("trims without stretching or normalising when asked", async () => {
    const output = join(dir, "trimmed.wav");
    const report = await fitAudioFile({
      input,
      output,
      durationSeconds: 0.5,
      preservePitch: false,
      normalize: false,
    });
    expect(report).toMatchObject({ stretchFactor: 0.5, preservePitch: false, normalized: false });
    const { pcm } = await decodeAudio(output);
    expect(pcm[0]!.length).toBe(24_000);
    expect(peakOf(pcm)).toBeCloseTo(0.25, 3);
  });

  it("a missing input is media_not_found (422), naming the file", async () => {
    const error = await rejection(
      fitAudioFile({ input: join(dir, "nope.wav"), output: join(dir, "o.wav"), durationSeconds: 1 }),
    );
    expect(error).toMatchObject({ code: "media_not_found", status: 422 });
    expect(error.message).toContain("nope.wav");
  });

  it("refuses an output folder that does not exist, or is a file, before decoding", async () => {
    const target = join(dir, "no-such-folder", "o.wav");
    const missing = await rejection(fitAudioFile({ input, output: target, durationSeconds: 1 }));
    expect(missing).toMatchObject({ status: 422, code: "output_folder_missing" });
    expect(missing.message).toContain(target);
    expect(missing.details[0]).toMatchObject({ code: "output_folder_missing", file: target });
    const notDir = await rejection(fitAudioFile({ input, output: join(input, "o.wav"), durationSeconds: 1 }));
    expect(notDir).toMatchObject({ status: 422, code: "output_folder_not_a_directory" });
  });

  it("refuses a WAV header claiming 2,000,000,000 Hz (unsupported_sample_rate), instead of allocating for it", async () => {
    const data = Buffer.alloc(2000);
    const header = Buffer.alloc(44);
    header.write("RIFF", 0, "ascii");
    header.writeUInt32LE(36 + data.length, 4);
    header.write("WAVEfmt ", 8, "ascii");
    header.writeUInt32LE(16, 16);
    header.writeUInt16LE(1, 20);
    header.writeUInt16LE(1, 22);
    header.writeUInt32LE(2_000_000_000, 24);
    header.writeUInt32LE(4_000_000_000, 28);
    header.writeUInt16LE(2, 32);
    header.writeUInt16LE(16, 34);
    header.write("data", 36, "ascii");
    header.writeUInt32LE(data.length, 40);
    const huge = join(dir, "huge-rate.wav");
    await writeFile(huge, Buffer.concat([header, data]));
    const error = await rejection(fitAudioFile({ input: huge, output: join(dir, "h.wav"), durationSeconds: 2 }));
    expect(error).toMatchObject({ status: 422, code: "unsupported_sample_rate" });
    expect(error.message).toContain("huge-rate.wav");
    expect(error.message).toContain("2000000000 Hz");
    expect(error.details[0]).toMatchObject({ file: huge });
  });
});
