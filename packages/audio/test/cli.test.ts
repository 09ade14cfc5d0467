import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type AudioFitReport, audioCli, decodeAudio, encodeAudio, peakOf, toDbfs } from "../src/index.js";
import { sine, tempDir } from "./helpers/media.js";
import { dominantFrequency } from "./helpers/pitch.js";

const { dir, cleanup } = tempDir("cli");
const input = join(dir, "in.wav");
beforeAll(() =>
  encodeAudio({ sampleRate: 48_000, pcm: [sine(440, 1, 48_000, 0.25), sine(660, 1, 48_000, 0.1)] }, input),
);
afterAll(cleanup);

function capture() {
  const out: string[] = [];
  const err: string[] = [];
  return { io: { stdout: (l: string) => out.push(l), stderr: (l: string) => err.push(l) }, out, err };
}

describe("a2v audio fit", () => {
  it("stretches to the exact duration, keeps the pitch, normalises to -1 dBFS and reports it as JSON", async () => {
    const output = join(dir, "out.wav");
    const { io, out } = capture();
    expect(await audioCli(["fit", input, output, "--duration", "1.6", "--json"], io)).toBe(0);
    const report = JSON.parse(out.join("")) as AudioFitReport;
    expect(report).toMatchObject({ sampleRate: 48_000, channels: 2, inputSeconds: 1, outputSeconds: 1.6 });
    expect(report.stretchFactor).toBeCloseTo(1.6, 10);
    expect(report.peakBeforeDbfs).toBeCloseTo(toDbfs(0.25), 3);
    expect(report.peakAfterDbfs).toBeCloseTo(-1, 2);

    const { pcm } = await decodeAudio(output);
    expect(pcm[0]!.length).toBe(76_800);
    expect(toDbfs(peakOf(pcm))).toBeCloseTo(-1, 2);
    expect(dominantFrequency(pcm[0]!.subarray(4800, 72_000), 48_000, 300, 600)).toBeCloseTo(440, 0);
  });

  it("trims without stretching or normalising when asked, in plain text", async () => {
    const output = join(dir, "trimmed.wav");
    const { io, out } = capture();
    expect(
      await audioCli(["fit", input, output, "--duration", "0.5", "--no-preserve-pitch", "--no-normalize"], io),
    ).toBe(0);
    expect(out.join("\n")).toMatch(/1\.000 s -> 0\.500 s \(stretch x0\.5000, trimmed\/padded\)/);
    expect(out.join("\n")).toMatch(/not normalised/);
    const { pcm } = await decodeAudio(output);
    expect(pcm[0]!.length).toBe(24_000);
    expect(peakOf(pcm)).toBeCloseTo(0.25, 3);
  });

  it("exits 2 with usage on bad arguments and 3 (rejected) with the error on a missing file", async () => {
    const bad = capture();
    expect(await audioCli(["fit", input, "x.wav"], bad.io)).toBe(2);
    expect(bad.err.join("\n")).toMatch(/--duration must be a positive number/);
    expect(await audioCli(["stretch"], bad.io)).toBe(2);

    const missing = capture();
    const code = await audioCli(
      ["fit", join(dir, "nope.wav"), join(dir, "o.wav"), "--duration", "1", "--json"],
      missing.io,
    );
    expect(code).toBe(3);
    // The same error shape as every a2v command: the A2VError's wire form itself.
    const error = JSON.parse(missing.out.join("")) as { code: string; status: number; message: string };
    expect(error).toMatchObject({ code: "media_not_found", status: 422 });
    expect(error.message).toContain("nope.wav");
    expect(missing.err).toEqual([]);
  });

  it("a usage error under --json is one JSON object too (status 400, code usage), exit 2", async () => {
    const bad = capture();
    expect(await audioCli(["fit", input, "--json"], bad.io)).toBe(2);
    expect(JSON.parse(bad.out.join(""))).toMatchObject({ status: 400, code: "usage" });
  });

  it("--help and help print the usage and exit 0", async () => {
    for (const argv of [["--help"], ["help"], ["fit", "--help"], ["fit", input, "-h"]]) {
      const c = capture();
      expect(await audioCli(argv, c.io), argv.join(" ")).toBe(0);
      expect(c.out.join("\n")).toMatch(/^usage: a2v audio fit <in> <out> --duration S/);
      expect(c.err).toEqual([]);
    }
  });

  it("refuses an output folder that does not exist before decoding (output_folder_missing, naming the file)", async () => {
    const c = capture();
    const target = join(dir, "no-such-folder", "o.wav");
    expect(await audioCli(["fit", input, target, "--duration", "1", "--json"], c.io)).toBe(3);
    const error = JSON.parse(c.out.join(""));
    expect(error).toMatchObject({ status: 422, code: "output_folder_missing" });
    expect(error.message).toContain(target);
    expect(error.details[0]).toMatchObject({ code: "output_folder_missing", file: target });
    // An existing file as the folder: not a directory.
    const notDir = capture();
    expect(await audioCli(["fit", input, join(input, "o.wav"), "--duration", "1"], notDir.io)).toBe(3);
    expect(notDir.err[0]).toMatch(/^error \[output_folder_not_a_directory\]: .*in\.wav/);
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
    const c = capture();
    expect(await audioCli(["fit", huge, join(dir, "h.wav"), "--duration", "2", "--json"], c.io)).toBe(3);
    const error = JSON.parse(c.out.join(""));
    expect(error).toMatchObject({ status: 422, code: "unsupported_sample_rate" });
    expect(error.message).toContain("huge-rate.wav");
    expect(error.message).toContain("2000000000 Hz");
    expect(error.details[0]).toMatchObject({ file: huge });
  });
});
