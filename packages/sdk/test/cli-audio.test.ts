import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type AudioFitReport, decodeAudio, encodeAudio } from "@a2v/audio";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EXIT, runCli } from "../src/index.js";

// `a2v audio fit` on the command line: fitAudioFile of @a2v/audio (tested there) through the a2v CLI convention.
async function cli(...argv: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(argv, { stdout: (s) => out.push(s), stderr: (s) => err.push(s) });
  return { code, stdout: out.join("\n"), stderr: err.join("\n") };
}

const sine = (hz: number, seconds: number, rate: number, amplitude: number) =>
  Float32Array.from(
    { length: Math.round(seconds * rate) },
    (_, i) => amplitude * Math.sin((2 * Math.PI * hz * i) / rate),
  );

let dir = "";
let input = "";
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "a2v-cli-audio-"));
  input = join(dir, "in.wav");
  await encodeAudio({ sampleRate: 16_000, pcm: [sine(440, 1, 16_000, 0.25), sine(660, 1, 16_000, 0.1)] }, input);
});
afterAll(() => rm(dir, { recursive: true, force: true }));

describe("a2v audio fit", () => {
  it("fits to the duration and prints the report as JSON (exit 0)", async () => {
    const output = join(dir, "out.wav");
    const r = await cli("audio", "fit", input, output, "--duration", "1.5", "--json");
    expect(r.code).toBe(EXIT.ok);
    const report = JSON.parse(r.stdout) as AudioFitReport;
    expect(report).toMatchObject({ sampleRate: 16_000, channels: 2, outputSeconds: 1.5, preservePitch: true });
    expect(report.peakAfterDbfs).toBeCloseTo(-1, 2);
    expect((await decodeAudio(output)).pcm[0]!.length).toBe(24_000);
  });

  it("trims without stretching or normalising when asked, in plain text", async () => {
    const flags = ["--no-preserve-pitch", "--no-normalize"];
    const r = await cli("audio", "fit", input, join(dir, "trimmed.wav"), "--duration", "0.5", ...flags);
    expect(r.code).toBe(EXIT.ok);
    expect(r.stdout).toMatch(/1\.000 s -> 0\.500 s \(stretch x0\.5000, trimmed\/padded\)/);
    expect(r.stdout).toMatch(/not normalised/);
  });

  it("bad arguments are usage errors (exit 2, the usage text; one JSON object with --json)", async () => {
    const noDuration = await cli("audio", "fit", input, "x.wav");
    expect(noDuration.code).toBe(EXIT.usage);
    expect(noDuration.stderr).toMatch(/--duration must be a positive number/);
    expect(noDuration.stderr).toContain("usage: a2v audio fit <in> <out>");
    expect((await cli("audio", "stretch")).code).toBe(EXIT.usage);
    expect((await cli("audio")).code).toBe(EXIT.usage);
    const json = await cli("audio", "fit", input, "--json");
    expect(json.code).toBe(EXIT.usage);
    expect(JSON.parse(json.stdout)).toMatchObject({ status: 400, code: "usage" });
    const tiny = await cli("audio", "fit", input, join(dir, "tiny.wav"), "--duration", "0.00001");
    expect(tiny.code).toBe(EXIT.usage);
    expect(tiny.stderr).toContain("--duration 0.00001 s is shorter than one sample at 16000 Hz");
    expect(existsSync(join(dir, "tiny.wav"))).toBe(false);
  });

  it("a missing input or output folder is rejected (exit 3) in the a2v error shape", async () => {
    const missing = await cli("audio", "fit", join(dir, "nope.wav"), join(dir, "o.wav"), "--duration", "1", "--json");
    expect(missing.code).toBe(EXIT.rejected);
    const error = JSON.parse(missing.stdout);
    expect(error).toMatchObject({ code: "media_not_found", status: 422 });
    expect(Object.keys(error).sort()).toEqual(["code", "details", "message", "status"]);
    expect(missing.stderr).toBe("");
    const notDir = await cli("audio", "fit", input, join(input, "o.wav"), "--duration", "1");
    expect(notDir.code).toBe(EXIT.rejected);
    expect(notDir.stderr).toMatch(/^error \[output_folder_not_a_directory\]: .*in\.wav/);
  });

  it("--help, -h, help and a2v help audio print the usage and exit 0", async () => {
    for (const argv of [
      ["audio", "--help"],
      ["audio", "help"],
      ["audio", "fit", "--help"],
      ["audio", "fit", input, "-h"],
      ["help", "audio"],
    ]) {
      const r = await cli(...argv);
      expect(r.code, argv.join(" ")).toBe(EXIT.ok);
      expect(r.stdout).toMatch(/^usage: a2v audio fit <in> <out> --duration S/);
      expect(r.stderr).toBe("");
    }
  });
});
