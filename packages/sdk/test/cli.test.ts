import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EXIT, runCli } from "../src/index.js";

const run = promisify(execFile);
const bin = fileURLToPath(new URL("../dist/bin.js", import.meta.url));

async function cli(...argv: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(argv, { stdout: (s) => out.push(s), stderr: (s) => err.push(s) });
  return { code, stdout: out.join("\n"), stderr: err.join("\n") };
}

let dir = "";
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "a2v-cli-"));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

describe("a2v cost", () => {
  it("prints units and price", async () => {
    expect(await cli("cost", "--steps", "1000")).toMatchObject({ code: EXIT.ok, stdout: "1000 units, $6.00" });
    expect(JSON.parse((await cli("cost", "--steps", "100", "--json")).stdout)).toEqual({ units: 100, usd: 0.6 });
  });

  it("rejects steps outside the service's range with exit 3", async () => {
    const r = await cli("cost", "--steps", "50");
    expect(r.code).toBe(EXIT.rejected);
    expect(r.stderr).toContain("number_of_steps");
  });
});

describe("a2v schema", () => {
  it("prints the generated JSON Schema", async () => {
    const r = await cli("schema");
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).properties.training_data_url.type).toBe("string");
  });
});

describe("a2v input", () => {
  it("prints the defaulted, snapped input", async () => {
    const file = join(dir, "ok.json");
    await writeFile(file, JSON.stringify({ training_data_url: "x.zip", number_of_frames: 100 }));
    const r = await cli("input", file, "--json");
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ number_of_frames: 97, rank: 32 });
  });

  it("prints the 422 error object with --json and exits 3", async () => {
    const file = join(dir, "bad.json");
    await writeFile(file, JSON.stringify({ training_data_url: "x.zip", rank: 7, colour: "red" }));
    const r = await cli("input", file, "--json");
    expect(r.code).toBe(EXIT.rejected);
    const body = JSON.parse(r.stdout);
    expect(body).toMatchObject({ status: 422, code: "invalid_input" });
    expect(body.details.map((d: { path: string[] }) => d.path.join("."))).toEqual(["rank", "colour"]);
  });

  it("names an unreadable file", async () => {
    const file = join(dir, "garbage.json");
    await writeFile(file, "{not json");
    const r = await cli("input", file);
    expect(r.code).toBe(EXIT.rejected);
    expect(r.stderr).toContain("garbage.json");
  });
});

describe("usage errors", () => {
  it("unknown commands and flags exit 2 with the usage text", async () => {
    const fly = await cli("fly");
    expect(fly.code).toBe(EXIT.usage);
    expect(fly.stderr).toContain("Usage:");
    const r = await cli("doctor", "--colour");
    expect(r.code).toBe(EXIT.usage);
    expect(r.stderr).toContain("usage: a2v doctor [--json]");
  });

  it("under --json a usage error is one JSON object on stdout (status 400, code usage)", async () => {
    const r = await cli("cost", "--stepz", "3", "--json");
    expect(r.code).toBe(EXIT.usage);
    expect(JSON.parse(r.stdout)).toMatchObject({ status: 400, code: "usage" });
  });
});

describe("help", () => {
  it("a2v --help, -h, help and no command print the summary and exit 0", async () => {
    for (const argv of [["--help"], ["-h"], ["help"], []]) {
      const r = await cli(...argv);
      expect(r.code, argv.join(" ")).toBe(EXIT.ok);
      expect(r.stdout).toMatch(/^a2v — LTX-2.3 audio-to-video LoRA trainer/);
      expect(r.stdout).toContain("a2v validate <zip|url>");
      expect(r.stderr).toBe("");
    }
  });

  it("a2v help <command> and a2v <command> --help print that command's usage and exit 0", async () => {
    const commands = ["doctor", "schema", "cost", "input", "validate", "preprocess", "parity", "describe", "audio"];
    for (const name of commands) {
      const viaHelp = await cli("help", name);
      const viaFlag = await cli(name, "--help");
      expect(viaHelp.code, name).toBe(EXIT.ok);
      expect(viaFlag).toEqual(viaHelp);
      expect(viaHelp.stdout).toMatch(new RegExp(`^usage: a2v ${name}\\b`));
    }
    expect((await cli("preprocess", "x.zip", "--out", "d", "-h")).stdout).toMatch(
      /^usage: a2v preprocess <zip\|url> --out DIR/,
    );
    expect((await cli("audio", "fit", "--help")).stdout).toMatch(/^usage: a2v audio fit <in> <out> --duration S/);
    const unknown = await cli("help", "fly");
    expect(unknown.code).toBe(EXIT.usage);
    expect(unknown.stderr).toContain('unknown command "fly"');
  });
});

describe("errors a user can act on, each with a code naming the rule and the file", () => {
  it("a file:// URL with a host or an encoded slash (file_url_host, file_url_path), exit 3", async () => {
    const host = await cli("validate", "file://example.com/data.zip", "--json");
    expect(host.code).toBe(EXIT.rejected);
    const hostError = JSON.parse(host.stdout);
    expect(hostError).toMatchObject({ status: 422, code: "file_url_host" });
    expect(hostError.message).toContain("file://example.com/data.zip");
    expect(hostError.details[0]).toMatchObject({
      code: "ERR_INVALID_FILE_URL_HOST",
      file: "file://example.com/data.zip",
    });
    const slash = await cli("preprocess", "file:///tmp/a%2Fb.zip", "--out", join(dir, "o"), "--json");
    expect(slash.code).toBe(EXIT.rejected);
    expect(JSON.parse(slash.stdout)).toMatchObject({ status: 422, code: "file_url_path" });
    const plain = await cli("validate", "file://example.com/data.zip");
    expect(plain.stderr).toMatch(/^error \[file_url_host\]: dataset URL file:\/\/example\.com\/data\.zip: /);
  });

  it("--out naming an existing file (output_folder_not_a_directory), exit 3", async () => {
    const file = join(dir, "taken.txt");
    await writeFile(file, "x");
    const r = await cli("preprocess", join(dir, "any.zip"), "--out", file, "--json");
    expect(r.code).toBe(EXIT.rejected);
    const error = JSON.parse(r.stdout);
    expect(error).toMatchObject({ status: 422, code: "output_folder_not_a_directory" });
    expect(error.details[0].file).toBe(file);
  });

  it("a missing TMPDIR (tmpdir_missing, naming it), exit 1", async () => {
    const saved = process.env.TMPDIR;
    const missing = join(dir, "no-such-tmp");
    process.env.TMPDIR = missing;
    try {
      const r = await cli("validate", join(dir, "any.zip"), "--json");
      expect(r.code).toBe(EXIT.failure);
      const error = JSON.parse(r.stdout);
      expect(error).toMatchObject({ status: 500, code: "tmpdir_missing" });
      expect(error.message).toContain(missing);
    } finally {
      if (saved === undefined) delete process.env.TMPDIR;
      else process.env.TMPDIR = saved;
    }
  });

  it("a2v audio fit into a missing folder (output_folder_missing) and from a WAV claiming 2,000,000,000 Hz", async () => {
    const wav = join(dir, "rate.wav");
    const header = Buffer.alloc(44);
    header.write("RIFFxxxxWAVEfmt ", 0, "ascii");
    header.writeUInt32LE(16, 16);
    header.writeUInt16LE(1, 20);
    header.writeUInt16LE(1, 22);
    header.writeUInt32LE(2_000_000_000, 24);
    header.writeUInt32LE(4_000_000_000, 28);
    header.writeUInt16LE(2, 32);
    header.writeUInt16LE(16, 34);
    header.write("data", 36, "ascii");
    header.writeUInt32LE(2000, 40);
    header.writeUInt32LE(36 + 2000, 4);
    await writeFile(wav, Buffer.concat([header, Buffer.alloc(2000)]));
    const rate = await cli("audio", "fit", wav, join(dir, "r.wav"), "--duration", "2", "--json");
    expect(rate.code).toBe(EXIT.rejected);
    expect(JSON.parse(rate.stdout)).toMatchObject({ status: 422, code: "unsupported_sample_rate" });
    const target = join(dir, "missing-folder", "out.wav");
    const folder = await cli("audio", "fit", wav, target, "--duration", "1", "--json");
    expect(folder.code).toBe(EXIT.rejected);
    const error = JSON.parse(folder.stdout);
    expect(error).toMatchObject({ status: 422, code: "output_folder_missing" });
    expect(error.details[0].file).toBe(target);
  });
});

describe("a2v doctor (built binary, real adapter)", () => {
  it("reports the lavapipe/GPU adapter, ffmpeg and versions, and exits cleanly", async () => {
    const { stdout } = await run(process.execPath, [bin, "doctor", "--json"], { timeout: 60_000 });
    const report = JSON.parse(stdout);
    expect(report.ok).toBe(true);
    expect(report.gpu.features).toEqual(expect.any(Array));
    expect(report.gpu.limits.maxStorageBufferBindingSize).toBeGreaterThan(0);
    expect(report.gpu.backend).toBe("vulkan");
    expect(["system", "npm", "env"]).toContain(report.ffmpeg.source);
    expect(report.packages["@a2v/sdk"]).toMatch(/^\d+\.\d+\.\d+$/);
    // Which kernels this adapter gets: packed panels and materialized attention on lavapipe.
    if (report.gpu.isSoftware) {
      expect(report.kernels.matmul).toMatch(/packed panels/);
      expect(report.kernels.attention).toMatch(/materialized/);
    } else expect(report.kernels.attention).toMatch(/fused/);
  });

  it("says whether the buffer pool is bounded (A2V_GPU_MEMORY_GIB), and names the variable when it is wrong", async () => {
    const env = { ...process.env, A2V_GPU_MEMORY_GIB: "30" };
    const json = await run(process.execPath, [bin, "doctor", "--json"], { env, timeout: 60_000 });
    expect(JSON.parse(json.stdout).gpuMemoryBudgetBytes).toBe(30 * 2 ** 30);
    const text = await run(process.execPath, [bin, "doctor"], { env, timeout: 60_000 });
    expect(text.stdout).toMatch(/^memory {3}buffer pool bounded to 30\.0 GiB/m);
    const unset = await run(process.execPath, [bin, "doctor", "--json"], { timeout: 60_000 });
    expect(JSON.parse(unset.stdout).gpuMemoryBudgetBytes).toBeNull();
    const bad = await run(process.execPath, [bin, "doctor"], {
      env: { ...process.env, A2V_GPU_MEMORY_GIB: "lots" },
      timeout: 60_000,
    }).then(
      () => null,
      (e: { code: number; stdout: string }) => e,
    );
    expect(bad?.code).toBe(EXIT.failure);
    expect(bad?.stdout).toContain('A2V_GPU_MEMORY_GIB must be a positive number of GiB, got "lots"');
  });

  it("says clearly what to install when no adapter exists, and exits 1", async () => {
    const env = { ...process.env, VK_DRIVER_FILES: "/nonexistent/icd.json", VK_ICD_FILENAMES: "/nonexistent/icd.json" };
    const failure = await run(process.execPath, [bin, "doctor"], { env, timeout: 60_000 }).then(
      () => null,
      (e: { code: number; stdout: string }) => e,
    );
    expect(failure?.code).toBe(EXIT.failure);
    expect(failure?.stdout).toContain("No WebGPU adapter was found");
    expect(failure?.stdout).toContain("mesa-vulkan-drivers");
    expect(failure?.stdout).toContain("A2V_GPU_ADAPTER");
    expect(failure?.stdout).toContain("NOT READY");
  });
});

describe("a2v validate", () => {
  const example = fileURLToPath(new URL("../../../examples/dataset/a2v-example.zip", import.meta.url));

  it("accepts the example dataset: exit 0, the manifest as JSON", async () => {
    const r = await cli("validate", example, "--trigger-phrase", "sks", "--json");
    expect(r.code).toBe(EXIT.ok);
    const manifest = JSON.parse(r.stdout);
    expect(manifest.counts).toEqual({ groups: 3, ok: 3, skipped: 0 });
    for (const group of manifest.groups) expect(group.caption.startsWith("sks")).toBe(true);
    expect(r.stderr).toBe("");
  });

  it("prints a human summary with progress on stderr", async () => {
    const r = await cli("validate", example);
    expect(r.code).toBe(EXIT.ok);
    expect(r.stdout).toMatch(/3 groups \(3 ok, 0 skipped\)/);
  });

  it("rejects a file that is not a zip with exit 3 and the error object", async () => {
    const notZip = join(dir, "dataset.zip");
    await writeFile(notZip, "this is not an archive");
    const r = await cli("validate", notZip, "--json");
    expect(r.code).toBe(EXIT.rejected);
    expect(JSON.parse(r.stdout)).toMatchObject({ status: 422, code: "not_a_zip" });
  });

  it("skips every too-short target at 121 frames and fails with all_targets_too_short", async () => {
    const r = await cli("validate", example, "--number-of-frames", "121", "--json");
    expect(r.code).toBe(EXIT.rejected);
    expect(JSON.parse(r.stdout).code).toBe("all_targets_too_short");
  });

  it("a non-integer frame count or a missing archive is refused before any work", async () => {
    expect((await cli("validate", example, "--number-of-frames", "8.5")).code).toBe(EXIT.rejected);
    expect((await cli("validate")).code).toBe(EXIT.usage);
  });
});

describe("a2v preprocess", () => {
  const example = fileURLToPath(new URL("../../../examples/dataset/a2v-example.zip", import.meta.url));

  it("writes cached samples at the bucket, a debug archive, and hits the cache on a second run", async () => {
    const out = join(dir, "pre");
    const args = ["preprocess", example, "--out", out, "--resolution", "low", "--aspect-ratio", "16:9"];
    const flags = ["--number-of-frames", "20", "--frame-rate", "8", "--debug-dataset", "--json"];
    const first = await cli(...args, ...flags);
    expect(first.code).toBe(EXIT.ok);
    const summary = JSON.parse(first.stdout);
    expect(summary.settings).toMatchObject({ bucket: { width: 512, height: 288 }, numberOfFrames: 17, frameRate: 8 });
    expect(summary.samples).toBe(3);
    expect(summary.debugDataset).toBe(join(out, "debug_dataset.zip"));
    const again = JSON.parse((await cli(...args, "--number-of-frames", "17", "--frame-rate", "8", "--json")).stdout);
    expect(again.cachedGroups).toBe(3);
  });

  it("rejects settings outside the service's ranges by field name, before any decoding", async () => {
    const r = await cli(
      "preprocess",
      example,
      "--out",
      join(dir, "bad"),
      "--resolution",
      "ultra",
      "--frame-rate",
      "x",
      "--json",
    );
    expect(r.code).toBe(EXIT.rejected);
    expect(
      JSON.parse(r.stdout)
        .details.map((d: { path: string[] }) => d.path.join("."))
        .sort(),
    ).toEqual(["frame_rate", "resolution"]);
    expect((await cli("preprocess", example)).code).toBe(EXIT.usage);
  });
});

describe("a2v audio fit", () => {
  it("fits an audio file to a duration", async () => {
    const input = join(dir, "tone.wav");
    const { mediaTools } = await import("@a2v/audio");
    await run(mediaTools().ffmpeg.path, ["-v", "error", "-f", "lavfi", "-i", "sine=frequency=440:duration=1", input]);
    const r = await cli("audio", "fit", input, join(dir, "fitted.wav"), "--duration", "1.5", "--json");
    expect(r.code).toBe(EXIT.ok);
    expect(JSON.parse(r.stdout)).toMatchObject({ outputSeconds: 1.5, preservePitch: true });
  });
});

describe("a2v parity", () => {
  const golden = fileURLToPath(new URL("../../../../shared/golden/", import.meta.url));
  const kinds = {
    schedules: "schedules",
    text_connector: "text_connector",
    audio_features_and_vae: "audio_features_and_vae",
    video_vae: "video_vae",
    transformer_a2v: "transformer_a2v_step",
  };
  const sets = Object.keys(kinds).map((s) => join(golden, s));
  const present = sets.every((s) => existsSync(join(s, "config.json")));

  it.skipIf(!present)("checks a golden set of every kind and passes, on the CPU and the GPU", async () => {
    for (const flags of [[], ["--gpu"]]) {
      const r = await cli("parity", ...sets, ...flags, "--json");
      expect(r.code).toBe(EXIT.ok);
      const results = JSON.parse(r.stdout);
      expect(results.map((x: { kind: string }) => x.kind)).toEqual(Object.values(kinds));
      for (const result of results) {
        expect(result.ok).toBe(true);
        expect(result.checks.length).toBeGreaterThan(3);
        for (const c of result.checks) {
          expect(c.maxAbsError).toBeLessThanOrEqual(c.metric === "max_abs" ? c.tolerance : 1);
          expect(c.relativeError).toBeGreaterThanOrEqual(0);
          expect(c.error).toBeLessThanOrEqual(c.tolerance);
        }
      }
    }
  });

  it("refuses a folder that is not a golden set", async () => {
    const r = await cli("parity", dir, "--json");
    expect(r.code).toBe(EXIT.rejected);
    expect(JSON.parse(r.stdout).code).toBe("golden_invalid");
  });
});

describe("exit codes of dataset failures", () => {
  it("a download failure (unreachable loopback port) exits 1, not as a usage error", async () => {
    const r = await cli("validate", "http://127.0.0.1:9/data.zip", "--allow-private-network", "--json");
    expect(r.code).toBe(EXIT.failure);
    expect(JSON.parse(r.stdout).code).toBe("download_failed");
  });
});

describe("a2v describe", () => {
  it("describes the 22B preset (DiT ~18.9B, ~22B with the text path) and its training memory", async () => {
    const r = await cli(
      "describe",
      "--resolution",
      "medium",
      "--aspect-ratio",
      "16:9",
      "--number-of-frames",
      "90",
      "--json",
    );
    expect(r.code).toBe(EXIT.ok);
    const d = JSON.parse(r.stdout);
    expect(d).toMatchObject({ preset: "ltx-2.3-22b", width: 768, height: 448, frames: 89 });
    expect(d.parameters.dit / 1e9).toBeCloseTo(18.99, 1);
    expect(d.parameters.total / 1e9).toBeCloseTo(22.16, 1);
    // 12 latent frames of 14×24 at 32× spatial / 8× temporal compression.
    expect(d.tokens.video).toBe(12 * 14 * 24);
    const human = await cli("describe", "--preset", "tiny");
    expect(human.stdout).toMatch(/^tiny at 768x768, 89 frames @ 24 fps/);
  });

  it("--weights narrows the memory plan to one base-weight mode; 8-bit codes need about half the bf16 weights", async () => {
    const all = JSON.parse((await cli("describe", "--json")).stdout);
    expect(Object.keys(all.trainingStepBytes).sort()).toEqual(["bf16", "f32", "fp8", "int8"]);
    const fp8 = await cli("describe", "--weights", "fp8", "--json");
    expect(fp8.code).toBe(EXIT.ok);
    const plan = JSON.parse(fp8.stdout).trainingStepBytes;
    expect(Object.keys(plan)).toEqual(["fp8"]);
    expect(plan.fp8).toEqual(all.trainingStepBytes.fp8);
    expect(plan.fp8.weights / all.trainingStepBytes.bf16.weights).toBeLessThan(0.55);
    expect((await cli("describe", "--weights", "fp8")).stdout).toMatch(/training step, fp8 weights: /);
    expect((await cli("describe", "--weights", "fp4")).code).toBe(EXIT.usage);
    const input = join(dir, "weights-input.json");
    await writeFile(input, JSON.stringify({ training_data_url: "https://example.com/data.zip" }));
    const train = await cli("train", input, "--out", join(dir, "weights-out"), "--weights", "fp4");
    expect(train.code).toBe(EXIT.usage);
    expect(train.stderr).toMatch(/--weights must be bf16, fp8 or int8/);
  });

  it("rejects an unknown preset or a rank the service does not offer", async () => {
    expect((await cli("describe", "--preset", "huge")).code).toBe(EXIT.rejected);
    expect((await cli("describe", "--rank", "7")).code).toBe(EXIT.rejected);
  });
});
