import { execFile, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { SafetensorsFile } from "@a2v/ltx-model/weights";
import { probeMediaInfo } from "@a2v/trainer";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type TrainEvent, type TrainResult, train } from "../src/index.js";
import { makeArchive } from "./helpers/dataset.js";

const run = promisify(execFile);
const bin = fileURLToPath(new URL("../dist/bin.js", import.meta.url));

let dir = "";
let archive = "";
/** Shared by every run here: the tiny model, decoded samples and latents are made once. */
let cacheDir = "";
let first: TrainResult;
const events: TrainEvent[] = [];

/** The smallest job the service accepts: 100 steps, 9 frames at 512×288. */
const input = () => ({
  training_data_url: archive,
  trigger_phrase: "zxq style",
  number_of_steps: 100,
  learning_rate: 0.001,
  rank: 8,
  resolution: "low",
  aspect_ratio: "16:9",
  number_of_frames: 9,
  debug_dataset: true,
});

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "a2v-train-"));
  cacheDir = join(dir, "cache");
  archive = await makeArchive(join(dir, "data"), [
    { name: "ball", source: "testsrc2", frames: 17, tone: 330, caption: "a test pattern drifting" },
    { name: "fractal", source: "mandelbrot", frames: 12, tone: 520 },
  ]);
  const job = train(input(), { outDir: join(dir, "out"), cacheDir, checkpointEvery: 50, seed: 7 });
  const seen = (async () => {
    for await (const e of job) events.push(e);
  })();
  first = await job;
  await seen;
}, 600_000);
afterAll(() => rm(dir, { recursive: true, force: true }));

async function zipNames(path: string): Promise<string[]> {
  const script = "import sys, zipfile; print('\\n'.join(zipfile.ZipFile(sys.argv[1]).namelist()))";
  return (await run("python3", ["-c", script, path])).stdout.trim().split("\n");
}

describe("train() on the embedded tiny model", () => {
  it("writes the LoRA in the official format: BF16, alpha folded into B, one A/B pair per attention projection", async () => {
    const file = await SafetensorsFile.open(first.lora_file);
    try {
      const names = file.keys();
      // 2 blocks × 6 attentions × (to_q, to_k, to_v, to_out.0) × (A, B).
      expect(names).toHaveLength(96);
      const key =
        /^diffusion_model\.transformer_blocks\.[01]\.(attn1|attn2|audio_attn1|audio_attn2|audio_to_video_attn|video_to_audio_attn)\.(to_q|to_k|to_v|to_out\.0)\.lora_(A|B)\.weight$/;
      for (const name of names) {
        expect(name).toMatch(key);
        const entry = file.entry(name);
        expect(entry.dtype).toBe("BF16");
        if (name.endsWith("lora_A.weight")) expect(entry.shape[0]).toBe(8);
        else expect(entry.shape[1]).toBe(8);
      }
      const b = await file.readFloat32("diffusion_model.transformer_blocks.0.attn1.to_q.lora_B.weight");
      expect(b.some((v) => v !== 0)).toBe(true);
    } finally {
      await file.close();
    }
  });

  it("writes config_file with the trigger phrase, the a2v type and how the LoRA was made", async () => {
    const config = JSON.parse(await readFile(first.config_file, "utf8"));
    expect(config).toMatchObject({
      training_type: "a2v",
      trigger_phrase: "zxq style",
      lora: { rank: 8, alpha: 8, target_modules: ["to_k", "to_q", "to_v", "to_out.0"] },
      training: {
        number_of_steps: 100,
        learning_rate: 0.001,
        resolution_bucket: { width: 512, height: 288 },
        samples: 2,
      },
      inference: { number_of_frames: 9, frame_rate: 24 },
    });
    expect(config.base_model).toContain("tiny");
    expect(config.training.dataset_sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(config.training.a2v_version).toMatch(/^\d+\.\d+\.\d+/);
  });

  it("returns the debug archive with one mp4 per sample, the captions and a manifest", async () => {
    const names = await zipNames(first.debug_dataset!);
    expect(names).toContain("manifest.json");
    expect(names.filter((n) => n.endsWith(".mp4"))).toHaveLength(2);
    expect(names.filter((n) => n.endsWith(".txt"))).toHaveLength(2);
  });

  it("bills max(100, steps), learns (evaluation loss below the base model's) and reports every stage", () => {
    expect(first.billing).toEqual({ units: 100, usd: 0.6 });
    expect(first.video).toBeUndefined();
    const m = first.metrics;
    expect(m.loss).toHaveLength(100);
    expect(m.loss.every(Number.isFinite)).toBe(true);
    expect(m.evaluation.after).toBeLessThan(m.evaluation.before * 0.95);
    expect(m.samples).toBe(2);
    expect(m.peakGpuBytes).toBeGreaterThan(0);
    const stages = events
      .filter((e) => e.type === "stage" && e.status === "done")
      .map((e) => e.type === "stage" && e.stage);
    expect(stages).toEqual(["fetch", "preprocess", "encode", "train", "outputs"]);
    expect(events.filter((e) => e.type === "step")).toHaveLength(100);
  });

  it("a second run, with validation previews, reads every latent from the cache and trains the same LoRA bit for bit; its reel holds every preview with its audio", async () => {
    const groups = join(dir, "data", "groups");
    const withValidation = {
      ...input(),
      validation: [
        {
          prompt: "zxq style a test pattern",
          image_url: join(groups, "ball_start.png"),
          audio_url: join(groups, "ball_audio.wav"),
        },
      ],
      validation_resolution: "low",
      validation_aspect_ratio: "16:9",
      validation_number_of_frames: 9,
    };
    const seen: TrainEvent[] = [];
    const again = await train(withValidation, {
      outDir: join(dir, "again"),
      cacheDir,
      checkpointEvery: 50,
      validationEvery: 50,
      seed: 7,
      onEvent: (e) => seen.push(e),
    });
    expect(again.metrics.cachedSamples).toBe(2);
    expect(await readFile(again.lora_file)).toEqual(await readFile(first.lora_file));
    const previews = seen.filter((e) => e.type === "preview");
    expect(previews.map((e) => e.type === "preview" && e.step)).toEqual([50, 100]);
    const reel = await probeMediaInfo(again.video!);
    expect(reel.audioCodec).toBe("aac");
    expect(reel.width).toBe(512);
    expect(reel.duration).toBeCloseTo((2 * 9) / 24, 1);
  }, 900_000);
});

describe("a2v train", () => {
  const cli = (args: string[]) =>
    run(process.execPath, [bin, "train", ...args, "--cache-dir", cacheDir], { maxBuffer: 1 << 24 }).then(
      (r) => ({ code: 0, ...r }),
      (e: { code: number; stdout: string; stderr: string }) => e,
    );

  it("rejects a dataset without audio with exit 3, billed 0, and writes no LoRA", async () => {
    const bad = await makeArchive(join(dir, "bad"), [{ name: "mute", source: "testsrc2", frames: 17, caption: "x" }]);
    const file = join(dir, "bad.json");
    await writeFile(file, JSON.stringify({ ...input(), training_data_url: bad }));
    const out = join(dir, "bad-out");
    const r = await cli([file, "--out", out, "--json"]);
    expect(r.code).toBe(3);
    const body = JSON.parse(r.stdout);
    expect(body).toMatchObject({ status: 422, billing: { units: 0, usd: 0 } });
    expect(body.details.map((d: { code: string }) => d.code)).toContain("missing_audio");
    expect(existsSync(join(out, "lora_weights.safetensors"))).toBe(false);
  }, 120_000);

  it("stopped by SIGTERM (exit 143, checkpoint), then SIGKILLed, then resumed, ends with the uninterrupted run's LoRA", async () => {
    const file = join(dir, "input.json");
    await writeFile(file, JSON.stringify(input()));
    const out = join(dir, "killed");
    const args = [bin, "train", file, "--out", out, "--seed", "7", "--checkpoint-every", "20", "--cache-dir", cacheDir];
    const state = (step: number) =>
      join(out, "checkpoints", `training_state_step_${String(step).padStart(5, "0")}.safetensors`);
    /** Starts a2v train and sends `signal` once the checkpoint of `step` exists; resolves with the exit code. */
    const interrupt = (extra: string[], step: number, signal: NodeJS.Signals) =>
      new Promise<number | null>((resolve) => {
        const child = spawn(process.execPath, [...args, ...extra], { stdio: "ignore" });
        const poll = setInterval(() => {
          if (existsSync(state(step))) {
            clearInterval(poll);
            child.kill(signal);
          }
        }, 50);
        child.on("exit", (code, received) => {
          clearInterval(poll);
          resolve(code ?? (received === "SIGKILL" ? 137 : null));
        });
      });
    expect(await interrupt([], 20, "SIGTERM")).toBe(143);
    expect(existsSync(join(out, "lora_weights.safetensors"))).toBe(false);
    expect(await interrupt(["--resume"], 60, "SIGKILL")).toBe(137);
    expect(existsSync(join(out, "lora_weights.safetensors"))).toBe(false);
    const resumed = await cli([file, "--out", out, "--seed", "7", "--checkpoint-every", "20", "--resume", "--json"]);
    expect(resumed.code).toBe(0);
    const result = JSON.parse(resumed.stdout) as TrainResult;
    expect(result.metrics.loss).toHaveLength(100);
    expect(await readFile(result.lora_file)).toEqual(await readFile(first.lora_file));
  }, 600_000);

  it("refuses --resume with another seed as a 422", async () => {
    const file = join(dir, "input.json");
    const r = await cli([file, "--out", join(dir, "killed"), "--seed", "8", "--resume", "--json"]);
    expect(r.code).toBe(3);
    expect(JSON.parse(r.stdout).code).toBe("resume_state_mismatch");
  }, 300_000);
});
