import { A2VError } from "@a2v/errors";
import { binding, f32lit, grid, groupIndex, u32lit, WG } from "./codegen.js";
import { cpuAdamWStep } from "./cpu/optim.js";
import { fill, map, mapInto } from "./ops/elementwise.js";
import { sum } from "./ops/reduce.js";
import { cpuTensor, type Device, deviceOf, empty, fmtShape, keep, type Tensor } from "./tensor.js";
import { bindingOf } from "./window.js";

export interface AdamWOptions {
  lr: number;
  beta1?: number;
  beta2?: number;
  eps?: number;
  /** Decoupled weight decay (PyTorch AdamW semantics: p ← p·(1 − lr·wd) before the Adam step). */
  weightDecay?: number;
  /** Clip the global gradient norm (over all parameters) to this value before the step. */
  maxGradNorm?: number;
}

/**
 * AdamW over many parameters as one fused dispatch. The constructor packs the parameters into a single
 * buffer (each tensor is rebound to its slice); every step copies the gradients into one flat buffer,
 * optionally measures the global norm on the GPU (no readback), and updates params and moments in place.
 * On the CPU device nothing is packed: each step loops over every parameter's host values (same math in
 * f64); the moments are flat CPU tensors in parameter order as on the GPU.
 */
export class AdamW {
  /** The packed parameters (GPU device only; undefined on the CPU device, where nothing is packed). */
  readonly flat: Tensor | undefined;
  /** First moments, packed in parameter order. */
  readonly m: Tensor;
  /** Second moments, packed in parameter order. */
  readonly v: Tensor;
  /** Where the parameters live (all on one device). */
  readonly device: Device;
  private readonly grads: Tensor | undefined;
  private readonly offsets: number[] = [];
  /** Number of steps taken. */
  steps = 0;
  /** Squared global gradient norm of the last step (before clipping), when clipping is on. */
  lastNormSq: Tensor | undefined;

  constructor(
    readonly params: readonly Tensor[],
    readonly options: AdamWOptions,
  ) {
    let total = 0;
    for (const p of params) {
      p.assertAlive();
      if (p.dtype !== "f32" || !p.isContiguous) {
        throw new A2VError("bad_param", `AdamW parameters must be contiguous f32, got ${p.dtype}${fmtShape(p.shape)}`);
      }
      this.offsets.push(total);
      total += p.size;
    }
    this.device = deviceOf(params);
    if (this.device === "cpu") {
      this.m = keep(empty([total], "f32", "cpu"));
      this.v = keep(empty([total], "f32", "cpu"));
      return;
    }
    const flat = keep(empty([total]));
    this.flat = flat;
    this.m = keep(fill([total], 0));
    this.v = keep(fill([total], 0));
    this.grads = keep(empty([total]));
    const rt = flat.storage.runtime;
    params.forEach((p, i) => {
      if (p.size) rt.copy(p.storage.buffer, p.offset * 4, flat.storage.buffer, this.offsets[i]! * 4, p.size * 4);
      p.rebind(flat.storage, this.offsets[i]!);
    });
  }

  /** One update with the gradients accumulated in `param.grad` (missing ones count as zero). */
  step(lr = this.options.lr): void {
    const { beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weightDecay = 0, maxGradNorm } = this.options;
    if (this.device === "cpu") {
      this.cpuStep({ lr, beta1, beta2, eps, weightDecay, maxGradNorm });
      return;
    }
    const flat = this.flat!;
    const grads = this.grads!;
    const rt = flat.storage.runtime;
    const n = flat.size;
    mapInto("0.0", [], grads);
    this.params.forEach((p, i) => {
      const g = p.grad;
      if (!g?.size) return;
      if (g.size !== p.size || !g.isContiguous || g.dtype !== "f32") {
        throw new A2VError("bad_grad", `gradient ${fmtShape(g.shape)} does not match parameter ${fmtShape(p.shape)}`);
      }
      rt.copy(g.storage.buffer, g.offset * 4, grads.storage.buffer, this.offsets[i]! * 4, g.size * 4);
    });
    this.steps++;
    const t = this.steps;
    this.lastNormSq?.dispose();
    this.lastNormSq = undefined;
    let normSq: Tensor | undefined;
    if (maxGradNorm !== undefined) {
      const squares = map("x0 * x0", [grads]);
      normSq = keep(sum(squares));
      squares.dispose();
      this.lastNormSq = normSq;
    }
    const f = new Float32Array([lr, beta1, beta2, eps, weightDecay, 1 - beta1 ** t, 1 - beta2 ** t, maxGradNorm ?? 0]);
    const groups = Math.ceil(n / WG);
    const clip = normSq
      ? `let norm = sqrt(nsq[0]); let clip = select(1.0, u.maxNorm / (norm + ${f32lit(1e-6)}), norm > u.maxNorm);`
      : "let clip = 1.0;";
    const wgsl = `struct Hyper { lr: f32, b1: f32, b2: f32, eps: f32, wd: f32, bc1: f32, bc2: f32, maxNorm: f32 }
${binding(0, "p", "f32", true)}
${binding(1, "m", "f32", true)}
${binding(2, "v", "f32", true)}
${binding(3, "g", "f32", false)}
${normSq ? binding(4, "nsq", "f32", false) : ""}
@group(0) @binding(${normSq ? 5 : 4}) var<uniform> u: Hyper;
@compute @workgroup_size(${WG}) fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = ${groupIndex(groups)} * ${WG}u + lid;
  if (i >= ${u32lit(n)}) { return; }
  ${clip}
  let gi = g[i] * clip;
  let mi = u.b1 * m[i] + (1.0 - u.b1) * gi;
  let vi = u.b2 * v[i] + (1.0 - u.b2) * gi * gi;
  m[i] = mi;
  v[i] = vi;
  let denom = sqrt(vi / u.bc2) + u.eps;
  p[i] = p[i] * (1.0 - u.lr * u.wd) - u.lr * (mi / u.bc1) / denom;
}`;
    const buffers = [flat, this.m, this.v, grads, ...(normSq ? [normSq] : [])].map(bindingOf);
    rt.dispatch(wgsl, buffers, grid(groups), f.buffer);
  }

  /** The CPU device's step: plain loops over each parameter's host values (see cpu/optim.ts). */
  private cpuStep(h: {
    lr: number;
    beta1: number;
    beta2: number;
    eps: number;
    weightDecay: number;
    maxGradNorm: number | undefined;
  }): void {
    const grads = this.params.map((p) => {
      const g = p.grad;
      if (!g?.size) return undefined;
      if (g.size !== p.size || !g.isContiguous || g.dtype !== "f32") {
        throw new A2VError("bad_grad", `gradient ${fmtShape(g.shape)} does not match parameter ${fmtShape(p.shape)}`);
      }
      return g;
    });
    this.steps++;
    this.lastNormSq?.dispose();
    this.lastNormSq = undefined;
    const normSq = cpuAdamWStep(this.params, grads, this.offsets, this.m.host, this.v.host, { ...h, t: this.steps });
    if (normSq !== undefined) this.lastNormSq = keep(cpuTensor(Float64Array.of(normSq), []));
  }

  /** Drops every parameter's accumulated gradient. */
  zeroGrad(): void {
    for (const p of this.params) {
      p.grad?.dispose();
      p.grad = undefined;
    }
  }

  /** Frees the optimizer state (the parameters keep the packed buffer alive). */
  dispose(): void {
    for (const t of [this.m, this.v, this.grads, this.flat, this.lastNormSq]) t?.dispose();
  }
}

export interface LrSchedule {
  kind: "constant" | "linear" | "cosine";
  /** Peak learning rate. */
  lr: number;
  /** Steps of linear warmup from 0 to `lr`. */
  warmupSteps?: number;
  /** Total steps (the decay reaches `minLr` here). */
  totalSteps: number;
  minLr?: number;
}

/** Learning rate for step `step` (0-based) of a schedule with linear warmup. */
export function learningRate(s: LrSchedule, step: number): number {
  const warm = s.warmupSteps ?? 0;
  const min = s.minLr ?? 0;
  if (step < warm) return (s.lr * (step + 1)) / warm;
  if (s.kind === "constant") return s.lr;
  const span = Math.max(1, s.totalSteps - warm);
  const progress = Math.min(1, (step - warm) / span);
  if (s.kind === "linear") return s.lr + (min - s.lr) * progress;
  return min + 0.5 * (s.lr - min) * (1 + Math.cos(Math.PI * progress));
}
