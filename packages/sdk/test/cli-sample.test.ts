import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { mediaTools } from "@a2v/audio";
import { ensureTinyModel, initLoraWeights, loraTargets, openLtxModel, saveLoraFile } from "@a2v/ltx-model";
import { probeMediaInfo } from "@a2v/trainer";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EXIT, runCli } from "../src/index.js";

async function cli(...argv: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(argv, { stdout: (s) => out.push(s), stderr: (s) => err.push(s) });
  return { code, stdout: out.join("\n"), stderr: err.join("\n") };
}

let dir = "";
let lora = "";
let image = "";
let audio = "";
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "a2v-cli-sample-"));
  // A LoRA for the embedded tiny model, as training writes it (official keys, alpha/rank folded into B).
  const model = await openLtxModel(await ensureTinyModel(join(dir, "cache", "models")));
  const config = { rank: 4, alpha: 8, targetModules: ["to_q", "to_k", "to_v", "to_out.0"] };
  let state = 1;
  const random = () => {
    state = (state * 48271) % 2147483647;
    return state / 2147483647;
  };
  const tensors = initLoraWeights(loraTargets(model.transformer, config), 4, random);
  for (const [key, t] of tensors) if (key.endsWith("lora_B.weight")) t.data.fill(0.01);
  lora = join(dir, "lora.safetensors");
  await saveLoraFile(lora, tensors, config);
  await model.close();
  const ffmpeg = mediaTools().ffmpeg.path;
  image = join(dir, "start.jpg");
  audio = join(dir, "speech.wav");
  execFileSync(ffmpeg, ["-v", "error", "-f", "lavfi", "-i", "testsrc2=size=200x150", "-frames:v", "1", image]);
  execFileSync(ffmpeg, ["-v", "error", "-f", "lavfi", "-i", "sine=frequency=220:duration=0.5", audio]);
}, 300_000);
afterAll(() => rm(dir, { recursive: true, force: true }));

describe("a2v sample", () => {
  it("samples a preview with a LoRA file on the tiny model (mp4: H.264 + AAC)", async () => {
    const out = join(dir, "out", "preview.mp4");
    const r = await cli(
      "sample",
      "--lora",
      lora,
      "--image",
      image,
      "--audio",
      `file://${audio}`,
      "--prompt",
      "a2v a test card sings",
      "--out",
      out,
      "--model",
      "tiny",
      "--frames",
      "9",
      "--fps",
      "24",
      "--size",
      "96x64",
      "--steps",
      "2",
      "--seed",
      "3",
      "--cache-dir",
      join(dir, "cache"),
      "--json",
    );
    expect(r.stderr).toBe("");
    expect(r.code).toBe(EXIT.ok);
    const summary = JSON.parse(r.stdout);
    expect(summary).toMatchObject({ file: out, frames: 9, fps: 24, width: 96, height: 64, steps: 2, seed: 3 });
    expect(summary.passesPerStep).toBe(4);
    expect(existsSync(out)).toBe(true);
    expect(await probeMediaInfo(out)).toMatchObject({
      width: 96,
      height: 64,
      videoCodec: "h264",
      pixelFormat: "yuv420p",
      audioCodec: "aac",
      frames: 9,
    });
  }, 600_000);

  it("is a usage error without --lora, with a bad --size or --stg-scale; help prints the usage", async () => {
    const base = ["--image", image, "--audio", audio, "--prompt", "p", "--out", join(dir, "x.mp4")];
    expect((await cli("sample", ...base)).code).toBe(EXIT.usage);
    expect((await cli("sample", "--lora", lora, ...base, "--size", "100x64")).code).toBe(EXIT.usage);
    expect((await cli("sample", "--lora", lora, ...base, "--stg-scale", "4")).code).toBe(EXIT.usage);
    const help = await cli("sample", "--help");
    expect(help.code).toBe(EXIT.ok);
    expect(help.stdout).toContain("a2v sample --lora FILE --image I --audio A --prompt P --out OUT.mp4");
  });
});
