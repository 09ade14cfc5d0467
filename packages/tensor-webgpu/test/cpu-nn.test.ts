import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Nd } from "../src/cpu/reference.js";
import * as T from "../src/index.js";
import { storeValue } from "../src/tensor.js";
import { expectClose, randNd } from "./helpers.js";

/**
 * The CPU device's normalisation / attention / RoPE kernels against the GPU device (lavapipe): the same
 * op on the same values on both devices, forward values and the gradients of every differentiable input.
 */
beforeAll(() => T.init());
afterAll(() => T.releaseGpu());

interface Input {
  nd: Nd;
  /** Whether the input requires a gradient. */
  grad?: boolean;
}

interface Result {
  y: Float64Array;
  shape: readonly number[];
  grads: Float64Array[];
}

/** Runs `op` on `device` (every tensor it or its backward creates lives there) and back-propagates `seed`. */
async function run(device: T.Device, inputs: Input[], op: (xs: T.Tensor[]) => T.Tensor, seed?: Nd): Promise<Result> {
  const xs = inputs.map((i) => T.tensor(i.nd.data, i.nd.shape, "f32", device).trainable(i.grad ?? false));
  const y = T.onDevice(device, () => op(xs));
  expect(y.device).toBe(device);
  expect(y.dtype).toBe("f32");
  const values = Float64Array.from(await y.toArray());
  const grads: Float64Array[] = [];
  if (seed) {
    T.onDevice(device, () => T.backward(y, T.tensor(seed.data, seed.shape, "f32", device)));
    for (const [i, x] of xs.entries()) {
      if (!inputs[i]!.grad) continue;
      expect(x.grad?.device).toBe(device);
      expect(x.grad!.shape).toEqual(x.shape);
      grads.push(Float64Array.from(await x.grad!.toArray()));
    }
  }
  return { y: values, shape: y.shape, grads };
}

/** The op on both devices: same output shape, values and gradients within f32 tolerances. */
async function compare(
  inputs: Input[],
  op: (xs: T.Tensor[]) => T.Tensor,
  outShape: readonly number[],
  tol: [number, number] = [1e-5, 1e-4],
): Promise<void> {
  const seed = inputs.some((i) => i.grad) ? randNd(outShape, 97) : undefined;
  const cpu = await run("cpu", inputs, op, seed);
  const gpu = await run("gpu", inputs, op, seed);
  expect(cpu.shape).toEqual(outShape);
  expect(gpu.shape).toEqual(outShape);
  expectClose(cpu.y, gpu.y, ...tol);
  expect(cpu.grads.length).toBe(inputs.filter((i) => i.grad).length);
  expect(gpu.grads.length).toBe(cpu.grads.length);
  cpu.grads.forEach((g, i) => {
    expectClose(g, gpu.grads[i]!, ...tol);
  });
}

describe("CPU device: softmax, rmsNorm, layerNorm", () => {
  it("softmax over the last axis of a contiguous tensor, with its gradient", async () => {
    await compare(
      [{ nd: randNd([3, 7], 1), grad: true }],
      ([x]) =>
        T.softmax(
          T.mul(
            x!,
            T.onDevice(x!.device, () => T.fill([1], 3)),
          ),
        ),
      [3, 7],
    );
  });

  it("softmax of a permuted view", async () => {
    await compare([{ nd: randNd([5, 2, 3], 2), grad: true }], ([x]) => T.softmax(T.permute(x!, [1, 2, 0])), [2, 3, 5]);
  });

  it("rmsNorm without weight, default and custom eps, on a strided view", async () => {
    await compare([{ nd: randNd([4, 10], 3), grad: true }], ([x]) => T.rmsNorm(T.slice(x!, 1, 1, 10, 2)), [4, 5]);
    await compare(
      [{ nd: randNd([2, 3, 6], 4), grad: true }],
      ([x]) => T.rmsNorm(x!, undefined, { eps: 0.5 }),
      [2, 3, 6],
    );
  });

  for (const onePlusWeight of [false, true]) {
    it(`rmsNorm with a weight (onePlusWeight ${onePlusWeight}): dx and dw`, async () => {
      await compare(
        [
          { nd: randNd([3, 2, 6], 5), grad: true },
          { nd: randNd([12], 6), grad: true },
        ],
        // x as a permuted view, the weight as a stride-2 view.
        ([x, w]) => T.rmsNorm(T.permute(x!, [1, 0, 2]), T.slice(w!, 0, 0, 12, 2), { eps: 1e-3, onePlusWeight }),
        [2, 3, 6],
      );
    });
  }

  it("rmsNorm gradient of the weight only", async () => {
    await compare(
      [{ nd: randNd([4, 8], 7) }, { nd: randNd([8], 8), grad: true }],
      ([x, w]) => T.rmsNorm(x!, w, { onePlusWeight: true }),
      [4, 8],
    );
  });

  it("layerNorm, default and custom eps, contiguous and a transposed view", async () => {
    await compare([{ nd: randNd([3, 9], 9), grad: true }], ([x]) => T.layerNorm(x!), [3, 9]);
    await compare([{ nd: randNd([6, 4], 10), grad: true }], ([x]) => T.layerNorm(T.transpose(x!), 0.1), [4, 6]);
  });

  it("a bf16 input is read at its rounded values", async () => {
    const x = randNd([2, 8], 11);
    const run = async (device: T.Device): Promise<Float64Array[]> => {
      const t = T.tensor(x.data, x.shape, "bf16", device);
      const outs = [T.softmax(t), T.rmsNorm(t), T.layerNorm(t)];
      for (const o of outs) expect(o.device).toBe(device);
      return Promise.all(outs.map(async (o) => Float64Array.from(await o.toArray())));
    };
    const [cpu, gpu] = [await run("cpu"), await run("gpu")];
    cpu.forEach((c, i) => {
      expectClose(c, gpu[i]!, 1e-5, 1e-4);
    });
  });
});

describe("CPU device: attention", () => {
  const [b, h, lq, lk, d] = [2, 2, 3, 5, 4];

  it("no mask, default scale: forward and dQ, dK, dV", async () => {
    await compare(
      [
        { nd: randNd([b, h, lq, d], 20), grad: true },
        { nd: randNd([b, h, lk, d], 21), grad: true },
        { nd: randNd([b, h, lk, d], 22), grad: true },
      ],
      ([q, k, v]) => T.attention(q!, k!, v!),
      [b, h, lq, d],
    );
  });

  for (const kernel of ["fused", "materialized", "auto"] as const) {
    it(`[B, 1, 1, Lk] key mask with a masked key, scale 0.3, kernel ${kernel}`, async () => {
      const mask = { data: Float64Array.from({ length: b * lk }, (_, i) => (i % lk === 3 ? -1e9 : 0.2 * (i % 3))) };
      await compare(
        [
          { nd: randNd([b, h, lq, d], 23), grad: true },
          { nd: randNd([b, h, lk, d], 24), grad: true },
          { nd: randNd([b, h, lk, d], 25), grad: true },
          { nd: { data: mask.data, shape: [b, 1, 1, lk] } },
        ],
        ([q, k, v, m]) => T.attention(q!, k!, v!, { mask: m!, scale: 0.3, kernel }),
        [b, h, lq, d],
      );
    });
  }

  it("[B, L, H, D] tensors as permuted views, a rank-2 [Lq, Lk] mask, gradient of q only", async () => {
    await compare(
      [
        { nd: randNd([b, lq, h, d], 26), grad: true },
        { nd: randNd([b, lk, h, d], 27) },
        { nd: randNd([b, lk, h, d], 28) },
        { nd: randNd([lq, lk], 29) },
      ],
      ([q, k, v, m]) =>
        T.attention(T.permute(q!, [0, 2, 1, 3]), T.permute(k!, [0, 2, 1, 3]), T.permute(v!, [0, 2, 1, 3]), {
          mask: m!,
          kernel: "fused",
        }),
      [b, h, lq, d],
    );
  });

  it("gradients of k and v only (q a constant)", async () => {
    await compare(
      [
        { nd: randNd([1, 2, lq, d], 30) },
        { nd: randNd([1, 2, lk, d], 31), grad: true },
        { nd: randNd([1, 2, lk, d], 32), grad: true },
      ],
      ([q, k, v]) => T.attention(q!, k!, v!, { scale: 0.7 }),
      [1, 2, lq, d],
    );
  });

  it("refuses mixed devices and mismatched shapes", () => {
    const q = T.tensor(randNd([1, 1, 2, 4]).data, [1, 1, 2, 4], "f32", "cpu");
    const k = T.tensor(randNd([1, 1, 2, 4]).data, [1, 1, 2, 4], "f32", "gpu");
    expect(() => T.attention(q, k, k)).toThrow(/device/);
    const k3 = T.tensor(randNd([1, 1, 2, 3]).data, [1, 1, 2, 3], "f32", "cpu");
    expect(() => T.attention(q, k3, k3)).toThrow(/do not match/);
  });
});

describe("CPU device: rope", () => {
  for (const layout of ["split", "interleaved"] as const) {
    it(`${layout}: per-token tables broadcast over a permuted [B, H, T, dh] view; gradient in x`, async () => {
      const [bb, t, hh, dh] = [2, 3, 2, 6];
      const angles = randNd([t, 1, dh / 2], 40);
      const cos = { data: angles.data.map(Math.cos), shape: angles.shape };
      const sin = { data: angles.data.map(Math.sin), shape: angles.shape };
      await compare(
        [{ nd: randNd([bb, t, hh, dh], 41), grad: true }, { nd: cos }, { nd: sin }],
        ([x, c, s]) => T.rope(T.permute(x!, [0, 2, 1, 3]), T.permute(c!, [1, 0, 2]), T.permute(s!, [1, 0, 2]), layout),
        [bb, hh, t, dh],
      );
    });
  }

  it("interleaved with LTX-style repeated tables passed as stride-2 slices", async () => {
    const [t, dh] = [4, 8];
    const angles = randNd([t, dh / 2], 42);
    const rep = (f: (v: number) => number): Nd => ({
      data: Float64Array.from({ length: t * dh }, (_, i) => f(angles.data[Math.floor(i / 2)]!)),
      shape: [t, dh],
    });
    await compare(
      [{ nd: randNd([2, t, dh], 43), grad: true }, { nd: rep(Math.cos) }, { nd: rep(Math.sin) }],
      ([x, c, s]) => T.rope(x!, T.slice(c!, -1, 0, dh, 2), T.slice(s!, -1, 0, dh, 2), "interleaved"),
      [2, t, dh],
    );
  });

  it("refuses an odd head dim and tables that do not broadcast", () => {
    const cpu = (shape: number[]): T.Tensor => T.tensor(randNd(shape).data, shape, "f32", "cpu");
    expect(() => T.rope(cpu([2, 5]), cpu([2, 2]), cpu([2, 2]))).toThrow(/even/);
    expect(() => T.rope(cpu([2, 6]), cpu([3, 3]), cpu([2, 3]))).toThrow(/broadcast/);
  });
});

describe("CPU device: pixelNormSilu", () => {
  it("matches the GPU on a strided input, default and custom eps", async () => {
    await compare([{ nd: randNd([2, 5, 3, 4], 50) }], ([x]) => T.pixelNormSilu(x!), [2, 5, 3, 4]);
    await compare(
      [{ nd: randNd([1, 8, 6, 3, 2], 51) }],
      ([x]) => T.pixelNormSilu(T.slice(T.slice(x!, 1, 0, 8, 2), 2, 1, 5), 0.5),
      [1, 4, 4, 3, 2],
    );
  });

  it("writes into the `out` view of a larger tensor, on both devices alike", async () => {
    const x = randNd([1, 3, 2, 2, 2], 52);
    const padded = async (device: T.Device): Promise<Float64Array> => {
      const target = T.onDevice(device, () => T.fill([1, 3, 4, 2, 2], 7));
      const interior = T.slice(target, 2, 1, 3);
      const ret = T.pixelNormSilu(T.tensor(x.data, x.shape, "f32", device), 1e-6, interior);
      expect(ret).toBe(interior);
      expect(target.device).toBe(device);
      return Float64Array.from(await target.toArray());
    };
    const [cpu, gpu] = [await padded("cpu"), await padded("gpu")];
    expectClose(cpu, gpu, 1e-5, 1e-4);
    // The border frames are untouched.
    expect(cpu.filter((v) => v === 7).length).toBe(3 * 2 * 2 * 2);
  });

  it("an f16 input gives an f16 result, rounded; refuses mixed devices and inputs needing a gradient", async () => {
    const x = randNd([1, 4, 3], 53);
    const y = T.pixelNormSilu(T.tensor(x.data, x.shape, "f16", "cpu"));
    expect(y.device).toBe("cpu");
    expect(y.dtype).toBe("f16");
    const exact = T.pixelNormSilu(T.tensor(x.data, x.shape, "f16", "cpu"), 1e-8, T.empty(x.shape, "f32", "cpu"));
    const rounded = Float64Array.from(await exact.toArray(), (v) => storeValue("f16", v));
    expectClose(await y.toArray(), rounded, 0, 0);
    expectClose(await y.toArray(), await exact.toArray(), 1e-3, 1e-3);
    const onGpu = T.empty(x.shape, "f32", "gpu");
    expect(() => T.pixelNormSilu(T.tensor(x.data, x.shape, "f32", "cpu"), 1e-8, onGpu)).toThrow(/device/);
    expect(() => T.pixelNormSilu(T.tensor(x.data, x.shape, "f32", "cpu").trainable())).toThrow(/no backward/);
  });
});
