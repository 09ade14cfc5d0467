// A/B of the training step across commits: runs the demo-size step (composed ops, loss read back: what train() runs
// on CPU adapters) N times on the checkout given as argv[2], from its dist builds, and prints the median and every
// step time. Compare two checkouts by alternating runs (docs/perf.md, "One tensor library, two devices"):
//   git worktree add /tmp/before <rev> && (cd /tmp/before && pnpm install --offline && pnpm build)
//   for i in 1 2 3 4; do node scripts/step-ab.mjs /tmp/before 16; node scripts/step-ab.mjs "$PWD" 16; done
// It supports the model API before (GpuBackend, gpuA2VLoss) and after issue 17 (LtxTransformer, a2vStepLoss).
const root = process.argv[2];
const steps = Number(process.argv[3] ?? 8);
const lm = await import(`${root}/packages/ltx-model/dist/index.js`);
const tw = await import(`${root}/packages/tensor-webgpu/dist/index.js`);
const tr = await import(`${root}/packages/trainer/dist/index.js`);
const { mkdtemp } = await import("node:fs/promises");
const { tmpdir } = await import("node:os");
const { join } = await import("node:path");
await tw.init();
const dir = await mkdtemp(join(tmpdir(), "prof-"));
const model = await lm.openLtxModel(await lm.ensureTinyModel(dir));
const keys = lm.transformerParameters(model.transformer).map((p) => p.key);
const targets = lm.loraTargets(model.transformer, {
  rank: 32,
  alpha: 32,
  targetModules: ["to_k", "to_q", "to_v", "to_out.0"],
});
const Backend = lm.LtxTransformer ?? lm.GpuBackend;
const backend = new Backend({ fused: false });
await backend.loadWeights(model.transformerWeights, keys);
const rng = tr.createRng(3);
const g = (shape) => ({ shape, data: rng.fillNormal(new Float32Array(shape.reduce((a, b) => a * b, 1))) });
const ex = {
  videoLatents: g([8, 4, 9, 16]),
  audioLatents: g([8, 26, 16]),
  videoContext: g([1024, 32]),
  audioContext: g([1024, 16]),
  fps: 24,
};
const { drawA2VStep, initialLora } = await import(`${root}/packages/trainer/dist/loop/draw.js`);
const { ShiftedLogitNormalSampler } = await import(`${root}/packages/trainer/dist/timestep-sampler.js`);
for (const [key, t] of initialLora(targets, 32, 42)) backend.addParameter(key, t.data, t.shape[0], t.shape[1]);
const active = { modules: new Set(targets.map((t) => t.module)), scale: 1 };
const lossFn = tr.a2vStepLoss ?? lm.gpuA2VLoss;
const times = [];
for (let i = 0; i < steps; i++) {
  const { step } = drawA2VStep(model.transformer, ex, new ShiftedLogitNormalSampler(), 42, i);
  const t0 = performance.now();
  await lossFn(backend, model.transformer, step, { lora: active, train: true });
  backend.zeroGrad();
  times.push(performance.now() - t0);
}
const s = times.slice(2).sort((a, b) => a - b);
console.log(root, "median ms", s[Math.floor(s.length / 2)].toFixed(0), times.map((t) => t.toFixed(0)).join(" "));
tw.releaseGpu();
process.exit(0);
