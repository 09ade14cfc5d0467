// Fits a rank-4 LoRA adapter to a frozen linear layer with @a2v/tensor-webgpu alone: the LoRA linear, MSE,
// autograd into the adapter only (the frozen weight gets no gradient), and the fused AdamW step, all on the
// GPU (lavapipe on a CPU machine). Run after `npm run demo` or `pnpm build`: node examples/tensor/fit-lora.mjs
import { AdamW, backward, init, loraLinear, mseLoss, randn, releaseGpu, rt, scale, scope } from "@a2v/tensor-webgpu";

const [tokens, dIn, dOut, rank, steps] = [256, 256, 256, 4, 100];
const runtime = await init();
console.log(`adapter: ${runtime.gpu.info.description || runtime.gpu.info.device}`);

// A frozen layer W and a "teacher" that differs from it by a rank-4 update U·V; the adapter must learn it.
const w = randn([dOut, dIn], 1);
const u = randn([dOut, rank], 2);
const v = randn([rank, dIn], 3);
const x = randn([tokens, dIn], 4);
// Teacher output x·(W + s·U·V)ᵀ, which is a LoRA linear with A = V and B = U.
const target = loraLinear(x, w, undefined, v, u, 1 / Math.sqrt(dIn));

// LoRA weights as in PEFT: A small random, B zero, so training starts from the frozen layer exactly.
const a = scale(randn([rank, dIn], 5), 0.01).trainable();
const b = scale(randn([dOut, rank], 6), 0).trainable();
const optimizer = new AdamW([a, b], { lr: 3e-2 });

const started = performance.now();
for (let step = 1; step <= steps; step++) {
  const loss = scope(() => mseLoss(loraLinear(x, w, undefined, a, b, 1 / Math.sqrt(dIn)), target));
  backward(loss);
  optimizer.step();
  optimizer.zeroGrad();
  if (step === 1 || step % 25 === 0) console.log(`step ${step}: loss ${(await loss.item()).toFixed(5)}`);
  loss.dispose();
}
const seconds = (performance.now() - started) / 1000;
console.log(
  `${steps} steps in ${seconds.toFixed(2)} s; ${rt().stats.dispatches} dispatches, ${rt().stats.pipelines} pipelines`,
);
releaseGpu();
