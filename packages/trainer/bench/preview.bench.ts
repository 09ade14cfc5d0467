import { execFileSync } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { mediaTools } from "@a2v/audio";
import { ensureTinyModel, type LtxModel, LtxTransformer, openLtxModel, transformerParameters } from "@a2v/ltx-model";
import { init, rt } from "@a2v/tensor-webgpu";
import { afterAll, beforeAll, bench, describe } from "vitest";
import { type PreviewResult, type ValidationRequest, ValidationSampler } from "../src/validation/sampler.js";

// Time per validation preview of the embedded tiny model on this machine's adapter (lavapipe here): the demo's size
// (512×288, 25 frames at 24 fps) with the official 30 steps and all four guidance passes, then a second preview of
// the same request (conditioning and prompts cached, pipelines compiled), then the guidance passes one after another
// (`batchGuidance: false`) against the default, one batch per step. `pnpm exec vitest bench --run bench/preview.bench.ts`.
const lines: string[] = [];
let dir: string;
let model: LtxModel;
let backend: LtxTransformer;
let sampler: ValidationSampler;
let request: ValidationRequest;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "a2v-preview-bench-"));
  model = await openLtxModel(await ensureTinyModel(join(dir, "models")));
  await init();
  backend = new LtxTransformer({ fused: !rt().gpu.info.isSoftware });
  await backend.loadWeights(
    model.transformerWeights,
    transformerParameters(model.transformer).map((p) => p.key),
  );
  sampler = await ValidationSampler.create(model, { cacheDir: join(dir, "cache"), keepResident: true });
  const ffmpeg = mediaTools().ffmpeg.path;
  execFileSync(ffmpeg, [
    "-v",
    "error",
    "-f",
    "lavfi",
    "-i",
    "testsrc2=size=640x360",
    "-frames:v",
    "1",
    join(dir, "s.png"),
  ]);
  execFileSync(ffmpeg, ["-v", "error", "-f", "lavfi", "-i", "sine=frequency=300:duration=1.5", join(dir, "a.wav")]);
  request = {
    image: join(dir, "s.png"),
    audio: join(dir, "a.wav"),
    prompt: "a2v a test card hums",
    negativePrompt: "worst quality",
    frames: 25,
    fps: 24,
    bucket: { width: 512, height: 288 },
    stgScale: 1,
    seed: 1,
    steps: 30,
  };
}, 1_800_000);

afterAll(async () => {
  for (const line of lines) console.log(line);
  await sampler?.dispose();
  backend?.dispose();
  await model?.close();
  await rm(dir, { recursive: true, force: true });
});

function report(label: string, r: PreviewResult) {
  const s = r.seconds;
  const perPass = (s.denoise / (r.sigmas.length - 1) / r.passesPerStep) * 1000;
  lines.push(
    `${label}: total ${s.total.toFixed(1)} s = conditioning ${s.conditioning.toFixed(1)} + denoise ${s.denoise.toFixed(1)} ` +
      `(${r.sigmas.length - 1} steps × ${r.passesPerStep} passes, ${perPass.toFixed(0)} ms/pass) + decode ${s.decode.toFixed(1)} ` +
      `+ mp4 ${s.encode.toFixed(1)}; adapter ${rt().gpu.info.description}`,
  );
}

describe("tiny-model validation preview, 512×288 × 25 frames, 30 steps", () => {
  const once = { iterations: 1, warmupIterations: 0, time: 0, warmupTime: 0 };
  bench(
    "first and second preview",
    async () => {
      report("first preview", await sampler.sample(backend, undefined, request, join(dir, "p1.mp4")));
      report("second preview", await sampler.sample(backend, undefined, request, join(dir, "p2.mp4")));
      // The same preview with the passes one after another (after one preview that compiles their pipelines),
      // against the default again, both warm.
      const bySequence = await ValidationSampler.create(model, {
        cacheDir: join(dir, "cache"),
        keepResident: true,
        batchGuidance: false,
      });
      await bySequence.sample(backend, undefined, request, join(dir, "p3.mp4"));
      const one = await bySequence.sample(backend, undefined, request, join(dir, "p4.mp4"));
      report("passes one after another", one);
      const batched = await sampler.sample(backend, undefined, request, join(dir, "p5.mp4"));
      report("passes as one batch", batched);
      const ms = (r: PreviewResult) => ((r.seconds.denoise / (r.sigmas.length - 1)) * 1000).toFixed(0);
      lines.push(
        "| guidance passes (4 per step) | ms per step | ratio |",
        "|---|---|---|",
        `| one after another | ${ms(one)} | 1.00× |`,
        `| one batch | ${ms(batched)} | ${(one.seconds.denoise / batched.seconds.denoise).toFixed(2)}× |`,
      );
      await bySequence.dispose();
    },
    once,
  );
});
