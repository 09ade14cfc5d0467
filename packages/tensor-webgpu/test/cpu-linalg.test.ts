import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Nd } from "../src/cpu/reference.js";
import type { DType } from "../src/dtype.js";
import * as T from "../src/index.js";
import { matmulRaw } from "../src/ops/matmul.js";
import { sumTo } from "../src/ops/reduce.js";
import { expectClose, randNd } from "./helpers.js";

// The CPU device against the GPU device (lavapipe) for the linear-algebra family: matmul/linear/loraLinear,
// reductions, mseLoss, AdamW and the shape ops, forward values and the gradient of every trainable input.

beforeAll(() => T.init());
afterAll(() => T.releaseGpu());

interface Case {
  inputs: Nd[];
  op: (xs: T.Tensor[]) => T.Tensor;
  dtypes?: DType[];
  /** Which inputs require grad (default all). */
  trainable?: boolean[];
  atol?: number;
  rtol?: number;
}

interface Result {
  shape: readonly number[];
  dtype: DType;
  values: ArrayLike<number>;
  grads: Array<ArrayLike<number> | undefined>;
}

async function runOn(device: T.Device, c: Case): Promise<Result> {
  const xs = c.inputs.map((x, i) => T.tensor(x.data, x.shape, c.dtypes?.[i] ?? "f32", device));
  xs.forEach((x, i) => {
    x.requiresGrad = c.trainable?.[i] ?? true;
  });
  const y = c.op(xs);
  expect(y.device).toBe(device);
  const values = await y.toArray();
  const w = randNd(y.shape, 99);
  const loss = T.sum(T.mul(y, T.tensor(w.data, w.shape, "f32", device)));
  // An explicit seed: the CPU run keeps the default device (gpu), so nothing may allocate by default.
  T.backward(loss, T.tensor([1], [], "f32", device));
  const grads: Result["grads"] = [];
  for (const x of xs) {
    if (x.grad) expect(x.grad.device).toBe(device);
    grads.push(x.grad ? await x.grad.toArray() : undefined);
  }
  const out = { shape: [...y.shape], dtype: y.dtype, values, grads };
  for (const t of [...xs, y, loss]) t.dispose();
  return out;
}

/** Runs `c` on both devices and compares the forward values and every input gradient. */
async function compare(c: Case): Promise<void> {
  const gpu = await runOn("gpu", c);
  const cpu = await runOn("cpu", c);
  const [atol, rtol] = [c.atol ?? 2e-5, c.rtol ?? 2e-4];
  expect(cpu.shape).toEqual(gpu.shape);
  expect(cpu.dtype).toBe(gpu.dtype);
  expectClose(cpu.values, gpu.values, atol, rtol);
  expect(cpu.grads.map((g) => g === undefined)).toEqual(gpu.grads.map((g) => g === undefined));
  expect(gpu.grads.some((g) => g !== undefined) || c.trainable?.every((t) => !t)).toBe(true);
  cpu.grads.forEach((g, i) => {
    if (g) expectClose(g, gpu.grads[i]!, atol, rtol);
  });
}

describe("CPU device: matmul, linear, loraLinear", () => {
  it("A·B", () => compare({ inputs: [randNd([5, 7], 1), randNd([7, 3], 2)], op: ([a, b]) => T.matmul(a!, b!) }));

  it("Aᵀ·Bᵀ through transposed views, and a strided slice of A", async () => {
    await compare({
      inputs: [randNd([7, 5], 3), randNd([4, 7], 4)],
      op: ([a, b]) => T.matmul(T.transpose(a!), T.transpose(b!)),
    });
    await compare({
      inputs: [randNd([6, 9], 5), randNd([4, 3], 6)],
      op: ([a, b]) => T.matmul(T.slice(T.slice(a!, 1, 1, 9, 2), 0, 1, 4), b!),
    });
  });

  it("broadcast batch dims with fused bias, alpha and addTo (all differentiable)", () =>
    compare({
      inputs: [randNd([2, 3, 5, 4], 7), randNd([3, 4, 6], 8), randNd([6], 9), randNd([5, 6], 10)],
      op: ([a, b, bias, c]) => T.matmul(a!, b!, { bias: bias!, alpha: 0.5, addTo: c! }),
    }));

  it("batched activation · 2-D weight (folded into one GEMM) with a full-shape addTo, and a permuted activation", async () => {
    await compare({
      inputs: [randNd([2, 5, 4], 11), randNd([4, 6], 12), randNd([2, 5, 6], 13)],
      op: ([a, b, c]) => T.matmul(a!, b!, { addTo: c!, alpha: -1.5 }),
    });
    await compare({
      inputs: [randNd([5, 2, 4], 14), randNd([4, 6], 15), randNd([6], 16)],
      op: ([a, b, bias]) => T.matmul(T.permute(a!, [1, 0, 2]), b!, { bias: bias! }),
    });
  });

  it("bf16 weights (f32 result; gradients into the activation and the weight)", () =>
    compare({
      inputs: [randNd([3, 8], 17), randNd([8, 5], 18)],
      dtypes: ["f32", "bf16"],
      op: ([a, b]) => {
        const y = T.matmul(a!, b!);
        expect(y.dtype).toBe("f32");
        return y;
      },
    }));

  it("matmulRaw ignores the GPU kernel variant on the CPU device", async () => {
    const a = randNd([4, 6], 19);
    const b = randNd([6, 3], 20);
    const c = randNd([4, 3], 21);
    const gpuOut = await matmulRaw(T.tensor(a.data, a.shape), T.tensor(b.data, b.shape), {
      addTo: T.tensor(c.data, c.shape),
      alpha: 2,
    }).toArray();
    for (const variant of ["auto", "tiled", "naive", "small", "panel"] as const) {
      const y = matmulRaw(
        T.tensor(a.data, a.shape, "f32", "cpu"),
        T.tensor(b.data, b.shape, "f32", "cpu"),
        { addTo: T.tensor(c.data, c.shape, "f32", "cpu"), alpha: 2 },
        variant,
      );
      expect(y.device).toBe("cpu");
      expect(y.shape).toEqual([4, 3]);
      expectClose(await y.toArray(), gpuOut, 1e-5, 1e-4);
    }
  });

  it("linear with bias", () =>
    compare({
      inputs: [randNd([2, 3, 4], 22), randNd([5, 4], 23), randNd([5], 24)],
      op: ([x, w, bias]) => T.linear(x!, w!, bias!),
    }));

  it("loraLinear: dx, dA, dB and no gradient for the frozen weight", () =>
    compare({
      inputs: [randNd([1, 5, 6], 25), randNd([4, 6], 26), randNd([4], 27), randNd([2, 6], 28), randNd([4, 2], 29)],
      trainable: [true, false, false, true, true],
      op: ([x, w, bias, a, b]) => T.loraLinear(x!, w!, bias!, a!, b!, 0.75),
    }));

  it("columnScale (frozen) in the epilogue with alpha, bias and addTo: gradients into A, B, bias and addTo", () =>
    compare({
      inputs: [randNd([2, 5, 4], 64), randNd([4, 6], 65), randNd([6], 66), randNd([6], 67), randNd([5, 6], 68)],
      trainable: [true, true, false, true, true],
      op: ([a, b, s, bias, c]) => T.matmul(a!, b!, { columnScale: s!, alpha: 0.5, bias: bias!, addTo: c! }),
    }));

  it("columnScale on every GPU kernel variant (the CPU adapters' panel and small kernels hand it to the tiled one)", async () => {
    const a = randNd([9, 40], 69);
    const b = randNd([40, 12], 70);
    const s = randNd([12], 71);
    const cpu = matmulRaw(T.tensor(a.data, a.shape, "f32", "cpu"), T.tensor(b.data, b.shape, "f32", "cpu"), {
      columnScale: T.tensor(s.data, s.shape, "f32", "cpu"),
      alpha: 2,
    });
    const expected = await cpu.toArray();
    for (const variant of ["auto", "tiled", "naive", "small", "panel"] as const) {
      const y = matmulRaw(
        T.tensor(a.data, a.shape),
        T.tensor(b.data, b.shape),
        { columnScale: T.tensor(s.data, s.shape), alpha: 2 },
        variant,
      );
      expectClose(await y.toArray(), expected, 1e-5, 1e-4);
    }
    const trainable = T.tensor(s.data, s.shape);
    trainable.requiresGrad = true;
    expect(() => T.matmul(T.tensor(a.data, a.shape), T.tensor(b.data, b.shape), { columnScale: trainable })).toThrow(
      /frozen/,
    );
    expect(() =>
      T.matmul(T.tensor(a.data, a.shape), T.tensor(b.data, b.shape), { columnScale: T.tensor([1, 2], [2]) }),
    ).toThrow(/columnScale must be \[12\]/);
  });

  it("addLoraUpdate: base + s·(x·Aᵀ)·Bᵀ over any base product, gradients into base, x, A and B", () =>
    compare({
      inputs: [randNd([1, 5, 4], 60), randNd([1, 5, 6], 61), randNd([2, 6], 62), randNd([4, 2], 63)],
      trainable: [true, true, true, true],
      op: ([base, x, a, b]) => T.addLoraUpdate(base!, x!, a!, b!, -0.5),
    }));

  it("mixing devices is an error", () => {
    const a = T.tensor([1, 2, 3, 4], [2, 2], "f32", "cpu");
    const b = T.tensor([1, 2, 3, 4], [2, 2]);
    expect(() => T.matmul(a, b)).toThrow(/device/);
  });
});

describe("CPU device: reductions, sumTo, mseLoss", () => {
  const x = randNd([3, 4, 5], 30);
  for (const [name, op] of [
    ["sum of all", (t: T.Tensor) => T.sum(t)],
    ["sum over [0, 2] keepDims", (t: T.Tensor) => T.sum(t, [0, 2], true)],
    ["sum over -1", (t: T.Tensor) => T.sum(t, -1)],
    ["mean over 1", (t: T.Tensor) => T.mean(t, 1)],
    ["mean of all keepDims", (t: T.Tensor) => T.mean(t, undefined, true)],
    ["max over 1", (t: T.Tensor) => T.max(t, 1)],
    ["max over [0, 2] keepDims", (t: T.Tensor) => T.max(t, [0, 2], true)],
    ["sum over a permuted view", (t: T.Tensor) => T.sum(T.permute(t, [2, 0, 1]), [0, 2])],
    ["max over a strided slice", (t: T.Tensor) => T.max(T.slice(t, 2, 0, 5, 2), -1)],
  ] as const) {
    it(name, () => compare({ inputs: [x], op: ([t]) => op(t!) }));
  }

  it("long reductions (the GPU's workgroup kernel) and max ties (gradient to every maximum)", async () => {
    await compare({ inputs: [randNd([2, 130], 31)], op: ([t]) => T.mean(t!, 1) });
    await compare({ inputs: [randNd([130, 3], 32)], op: ([t]) => T.max(t!, 0) });
    await compare({
      inputs: [{ data: Float64Array.from([1, 3, 3, 2, -1, -1]), shape: [2, 3] }],
      op: ([t]) => T.max(t!, 1),
    });
  });

  it("sumTo reduces a broadcast gradient", async () => {
    const g = randNd([2, 3, 4], 33);
    for (const shape of [[3, 1], [1, 4], [4], [2, 1, 1], [2, 3, 4]]) {
      const want = await sumTo(T.tensor(g.data, g.shape), shape).toArray();
      const got = sumTo(T.tensor(g.data, g.shape, "f32", "cpu"), shape);
      expect(got.device).toBe("cpu");
      expect(got.shape).toEqual(shape);
      expectClose(await got.toArray(), want, 1e-5, 1e-4);
    }
  });

  it("mseLoss without and with a broadcast mask", async () => {
    const p = randNd([2, 3, 4], 34);
    const t = randNd([2, 3, 4], 35);
    await compare({ inputs: [p, t], op: ([a, b]) => T.mseLoss(a!, b!) });
    const mask = { data: Float64Array.from([1, 0, 1, 1, 1, 0]), shape: [2, 3, 1] };
    await compare({
      inputs: [p, t, mask],
      trainable: [true, true, false],
      op: ([a, b, m]) => T.mseLoss(a!, b!, m!),
    });
  });
});

describe("CPU device: shape ops", () => {
  const x = randNd([2, 3, 4], 40);
  for (const [name, op] of [
    ["reshape (a view)", (t: T.Tensor) => T.reshape(t, [4, -1])],
    ["reshape of a permuted view (a copy)", (t: T.Tensor) => T.reshape(T.permute(t, [2, 0, 1]), [8, 3])],
    ["flatten / unsqueeze / squeeze", (t: T.Tensor) => T.squeeze(T.unsqueeze(T.flatten(t, 1), 0), 0)],
    ["permute and transpose", (t: T.Tensor) => T.transpose(T.permute(t, [1, 2, 0]), 0, 2)],
    ["slice with a step, negative bounds", (t: T.Tensor) => T.slice(T.slice(t, 2, 0, 4, 2), 1, -2)],
    ["expand", (t: T.Tensor) => T.expand(T.slice(t, 1, 0, 1), [3, 2, 3, 4])],
    ["split (views) joined back in reverse", (t: T.Tensor) => T.concat(T.split(t, [1, 2, 1], 2).reverse(), 2)],
  ] as const) {
    it(name, () => compare({ inputs: [x], op: ([t]) => op(t!) }));
  }

  it("concat of several inputs, one a permuted view", () =>
    compare({
      inputs: [randNd([2, 3], 41), randNd([1, 2], 42), randNd([2, 2], 43)],
      op: ([a, b, c]) => T.concat([a!, T.transpose(b!), c!], 1),
    }));
});

describe("CPU device: AdamW", () => {
  const shapes = [[3, 4], [5], [2, 2, 2]];
  const init = shapes.map((s, i) => randNd(s, 50 + i));
  const schedule: T.LrSchedule = { kind: "cosine", lr: 0.02, warmupSteps: 2, totalSteps: 5, minLr: 0.001 };

  interface Trace {
    params: Array<ArrayLike<number>>[];
    m: ArrayLike<number>;
    v: ArrayLike<number>;
    normSq: number[];
  }

  async function train(device: T.Device, maxGradNorm: number | undefined): Promise<Trace> {
    const params = init.map((x) => T.tensor(x.data, x.shape, "f32", device).trainable());
    const opt = new T.AdamW(params, {
      lr: schedule.lr,
      beta1: 0.9,
      beta2: 0.99,
      eps: 1e-8,
      weightDecay: 0.1,
      ...(maxGradNorm !== undefined ? { maxGradNorm } : {}),
    });
    const trace: Trace = { params: [], m: [], v: [], normSq: [] };
    for (let s = 0; s < 4; s++) {
      // Σ_k c_k·Σ p_k² (+ p_0·p_1 coupling); the last parameter gets no gradient on step 1 (counts as zero).
      const loss = T.scope(() => {
        const used = s === 1 ? params.slice(0, 2) : params;
        const terms = used.map((p, k) => T.sum(T.scale(T.mul(p, p), k + 1)));
        terms.push(T.sum(T.mul(T.slice(T.reshape(params[0]!, [-1]), 0, 0, 5), params[1]!)));
        return terms.reduce((a, b) => T.add(a, b));
      });
      T.backward(loss, T.tensor([1], [], "f32", device));
      loss.dispose();
      opt.step(T.learningRate(schedule, s));
      opt.zeroGrad();
      trace.params.push(await Promise.all(params.map((p) => p.toArray())));
      if (maxGradNorm !== undefined) trace.normSq.push(await opt.lastNormSq!.item());
      else expect(opt.lastNormSq).toBeUndefined();
    }
    trace.m = await opt.m.toArray();
    trace.v = await opt.v.toArray();
    expect(opt.m.device).toBe(device);
    if (device === "cpu") expect(opt.flat).toBeUndefined();
    opt.dispose();
    return trace;
  }

  for (const maxGradNorm of [undefined, 0.5]) {
    it(`four steps with weight decay and an LR schedule match the fused GPU step${maxGradNorm ? " (with clipping)" : ""}`, async () => {
      const gpu = await train("gpu", maxGradNorm);
      const cpu = await train("cpu", maxGradNorm);
      cpu.params.forEach((step, s) => {
        step.forEach((p, k) => {
          expectClose(p, gpu.params[s]![k]!, 2e-6, 2e-5);
        });
      });
      expectClose(cpu.m, gpu.m, 1e-6, 1e-5);
      expectClose(cpu.v, gpu.v, 1e-6, 1e-5);
      expectClose(cpu.normSq, gpu.normSq, 1e-5, 1e-5);
      if (maxGradNorm) expect(cpu.normSq[0]!).toBeGreaterThan(maxGradNorm ** 2);
    });
  }

  it("rejects a gradient of the wrong size on the CPU device as on the GPU", () => {
    const p = T.tensor([1, 2, 3], [3], "f32", "cpu").trainable();
    const opt = new T.AdamW([p], { lr: 0.1 });
    p.grad = T.tensor([1, 2], [2], "f32", "cpu");
    expect(() => opt.step()).toThrow(/does not match/);
    opt.dispose();
  });
});
