import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as ref from "../src/cpu/reference.js";
import * as T from "../src/index.js";
import { gather } from "../src/tensor.js";
import { expectClose, rand, randNd } from "./helpers.js";

beforeAll(() => T.init());
afterAll(() => T.releaseGpu());

type Dev = "cpu" | "gpu";
interface Input {
  nd: ref.Nd;
  dtype?: T.DType;
  /** Differentiable (default true). */
  grad?: boolean;
}
interface Run {
  shape: number[];
  dtype: T.DType;
  device: Dev;
  y: Float64Array;
  grads: Array<{ shape: number[]; values: Float64Array }>;
}

/** Runs `op` on fresh leaves on `dev`, then backward with a fixed seed; returns values and leaf gradients. */
async function runOn(dev: Dev, inputs: Input[], op: (ts: T.Tensor[]) => T.Tensor): Promise<Run> {
  const leaves = inputs.map((i) => {
    const t = T.tensor(i.nd.data, i.nd.shape, i.dtype ?? "f32", dev);
    if (i.grad !== false) t.requiresGrad = true;
    return t;
  });
  const y = op(leaves);
  const out: Run = {
    shape: [...y.shape],
    dtype: y.dtype,
    device: y.device,
    y: Float64Array.from(await y.toArray()),
    grads: [],
  };
  if (leaves.some((t) => t.requiresGrad)) {
    T.backward(y, T.tensor(rand(y.size, 77), y.shape, "f32", dev));
    for (const t of leaves) {
      if (!t.requiresGrad) continue;
      expect(t.grad?.device).toBe(dev);
      out.grads.push({ shape: [...t.grad!.shape], values: Float64Array.from(await t.grad!.toArray()) });
    }
  }
  return out;
}

/** The op on both devices on the same inputs: same shapes/dtypes, close values and gradients. */
async function parity(inputs: Input[], op: (ts: T.Tensor[]) => T.Tensor, atol = 2e-5, rtol = 2e-4): Promise<Run> {
  const gpu = await runOn("gpu", inputs, op);
  const cpu = await runOn("cpu", inputs, op);
  expect(gpu.device).toBe("gpu");
  expect(cpu.device).toBe("cpu");
  expect(cpu.shape).toEqual(gpu.shape);
  expect(cpu.dtype).toBe(gpu.dtype);
  expectClose(cpu.y, gpu.y, atol, rtol);
  expect(cpu.grads.length).toBe(inputs.filter((i) => i.grad !== false).length);
  expect(cpu.grads.length).toBe(gpu.grads.length);
  cpu.grads.forEach((g, i) => {
    expect(g.shape).toEqual(gpu.grads[i]!.shape);
    expectClose(g.values, gpu.grads[i]!.values, atol, rtol);
  });
  return cpu;
}

const causal: Array<[number, number]> = [
  [2, 0],
  [1, 1],
  [1, 1],
];

describe("conv3d on the CPU device", () => {
  it("matches the f64 reference (forward, dx, dW, bias) over strides, dilations and padding past the kernel", () => {
    const cases: Array<{
      x: number[];
      w: number[];
      stride: number[];
      dil: number[];
      pad: Array<[number, number]>;
    }> = [
      {
        x: [2, 3, 5, 6, 7],
        w: [4, 3, 3, 3, 2],
        stride: [1, 2, 1],
        dil: [1, 1, 2],
        pad: [
          [2, 0],
          [1, 2],
          [0, 1],
        ],
      },
      // Padding wider than the kernel's reach, stride 3, an odd number of output channels and positions.
      {
        x: [1, 2, 4, 7, 5],
        w: [5, 2, 1, 2, 1],
        stride: [2, 3, 1],
        dil: [1, 2, 1],
        pad: [
          [1, 1],
          [3, 0],
          [0, 2],
        ],
      },
      {
        x: [3, 1, 3, 3, 3],
        w: [1, 1, 3, 3, 3],
        stride: [1, 1, 1],
        dil: [1, 1, 1],
        pad: [
          [1, 1],
          [1, 1],
          [1, 1],
        ],
      },
    ];
    for (const [n, c] of cases.entries()) {
      const x = randNd(c.x, 1 + n);
      const w = randNd(c.w, 2 + n);
      const bias = randNd([c.w[0]!], 3 + n);
      const xc = T.tensor(x.data, x.shape, "f32", "cpu");
      const wc = T.tensor(w.data, w.shape, "f32", "cpu");
      const bc = T.tensor(bias.data, bias.shape, "f32", "cpu");
      for (const t of [xc, wc, bc]) t.requiresGrad = true;
      const y = T.conv3d(xc, wc, {
        stride: c.stride as never,
        dilation: c.dil as never,
        padding: c.pad as never,
        bias: bc,
      });
      const want = ref.conv3d(x, w, c.stride, c.pad, c.dil, bias);
      expect(y.shape).toEqual(want.shape);
      expect(y.device).toBe("cpu");
      expectClose(gather(y), want.data, 1e-12, 1e-12);
      const dy = randNd(want.shape, 4 + n);
      T.backward(y, T.tensor(dy.data, dy.shape, "f32", "cpu"));
      const [dx, dw, db] = ref.conv3dGrad(x, w, c.stride, c.pad, c.dil, dy);
      expectClose(gather(xc.grad!), dx.data, 1e-12, 1e-12);
      expectClose(gather(wc.grad!), dw.data, 1e-12, 1e-12);
      expectClose(gather(bc.grad!), db.data, 1e-12, 1e-12);
    }
  });

  it("matches the GPU: causal time padding, spatial stride 2, bias; gradients of x, weight and bias", async () => {
    await parity(
      [{ nd: randNd([2, 3, 4, 5, 6], 10) }, { nd: randNd([5, 3, 3, 3, 3], 11) }, { nd: randNd([5], 12) }],
      ([x, w, b]) => T.conv3d(x!, w!, { stride: [1, 2, 2], padding: causal as never, bias: b! }),
    );
  });

  it("matches the GPU on a permuted (non-contiguous) input with dilation, time stride and asymmetric padding", async () => {
    const cpu = await parity([{ nd: randNd([1, 4, 3, 5, 4], 13) }, { nd: randNd([6, 4, 2, 3, 3], 14) }], ([x, w]) => {
      // The leaf holds [B, T, C, H, W]; the conv reads it through a permute.
      const v = T.permute(T.reshape(x!, [1, 3, 4, 5, 4]), [0, 2, 1, 3, 4]);
      expect(v.isContiguous).toBe(false);
      return T.conv3d(v, w!, {
        stride: [2, 1, 1],
        dilation: [1, 2, 2],
        padding: [
          [1, 0],
          [2, 1],
          [0, 2],
        ] as never,
      });
    });
    expect(cpu.shape).toEqual([1, 6, 2, 4, 2]);
  });

  it("matches the GPU with bf16 weights and a 1x1x1 kernel over a sliced input", async () => {
    await parity([{ nd: randNd([2, 4, 3, 4, 5], 15) }, { nd: randNd([3, 4, 3, 1, 3], 16), dtype: "bf16" }], ([x, w]) =>
      T.conv3d(T.slice(x!, 4, 1, 5), w!, { padding: [1, 0, 1] }),
    );
    await parity([{ nd: randNd([1, 5, 2, 3, 3], 17) }, { nd: randNd([7, 5, 1, 1, 1], 18) }], ([x, w]) =>
      T.conv3d(x!, w!),
    );
  });

  it("matches the GPU with only one side trainable (frozen weight, frozen input)", async () => {
    await parity([{ nd: randNd([1, 2, 3, 4, 4], 19) }, { nd: randNd([3, 2, 3, 3, 3], 20), grad: false }], ([x, w]) =>
      T.conv3d(x!, w!, { padding: 1 }),
    );
    await parity([{ nd: randNd([1, 2, 3, 4, 4], 21), grad: false }, { nd: randNd([3, 2, 3, 3, 3], 22) }], ([x, w]) =>
      T.conv3d(x!, w!, { padding: 1, stride: 2 }),
    );
  });

  it("refuses inputs on different devices", () => {
    const x = T.tensor(rand(2 * 3 * 3 * 3, 1), [1, 2, 3, 3, 3], "f32", "cpu");
    const w = T.tensor(rand(2 * 2, 2), [2, 2, 1, 1, 1], "f32", "gpu");
    expect(() => T.conv3d(x, w)).toThrow(/device/);
    const xg = T.tensor(rand(2 * 3 * 3 * 3, 3), [1, 2, 3, 3, 3], "f32", "gpu");
    const wc = T.tensor(rand(2 * 2, 4), [2, 2, 1, 1, 1], "f32", "cpu");
    expect(() => T.conv3d(xg, wc)).toThrow(/device/);
  });
});

describe("conv2d on the CPU device", () => {
  it("matches the GPU with stride, asymmetric padding, dilation and bias", async () => {
    await parity(
      [{ nd: randNd([2, 3, 7, 6], 30) }, { nd: randNd([4, 3, 3, 2], 31) }, { nd: randNd([4], 32) }],
      ([x, w, b]) =>
        T.conv2d(x!, w!, {
          stride: [2, 1],
          padding: [
            [2, 0],
            [0, 1],
          ],
          dilation: [1, 2],
          bias: b!,
        }),
    );
  });

  it("matches the GPU on a transposed input view with symmetric padding", async () => {
    await parity([{ nd: randNd([1, 3, 5, 4], 33) }, { nd: randNd([2, 3, 3, 3], 34) }], ([x, w]) =>
      T.conv2d(T.permute(x!, [0, 1, 3, 2]), w!, { padding: 1 }),
    );
  });
});

describe("VAE building blocks on the CPU device", () => {
  it("pixelNorm matches the GPU (forward and gradient)", async () => {
    await parity([{ nd: randNd([2, 3, 2, 3], 40) }], ([x]) => T.pixelNorm(x!, 1, 1e-6));
    await parity([{ nd: randNd([1, 4, 2, 2, 3], 41) }], ([x]) => T.pixelNorm(T.permute(x!, [0, 1, 2, 4, 3])));
  });

  it("groupNorm with and without affine matches the GPU (forward and gradients)", async () => {
    await parity([{ nd: randNd([2, 4, 3, 2], 42) }, { nd: randNd([4], 43) }, { nd: randNd([4], 44) }], ([x, w, b]) =>
      T.groupNorm(x!, 2, w!, b!),
    );
    await parity([{ nd: randNd([1, 6, 5], 45) }], ([x]) => T.groupNorm(x!, 3));
  });

  it("upsampleNearest matches the GPU (forward and gradient)", async () => {
    await parity([{ nd: randNd([1, 2, 2, 3, 2], 46) }], ([x]) => T.upsampleNearest(x!, [2, 1, 3]));
    await parity([{ nd: randNd([1, 2, 3, 2], 47) }], ([x]) => T.upsampleNearest(T.permute(x!, [0, 1, 3, 2]), [2, 2]));
  });

  it("depthToSpace and spaceToDepth match the GPU (forward and gradient) and invert each other", async () => {
    const d2s = await parity([{ nd: randNd([1, 8, 2, 2, 3], 48) }], ([x]) => T.depthToSpace(x!, [1, 2, 2]));
    expect(d2s.shape).toEqual([1, 2, 2, 4, 6]);
    await parity([{ nd: randNd([1, 2, 2, 4, 6], 49) }], ([x]) => T.spaceToDepth(x!, [2, 2, 1]));
    const r = randNd([1, 2, 2, 4, 6], 50);
    const x = T.tensor(r.data, r.shape, "f32", "cpu");
    const back = T.depthToSpace(T.spaceToDepth(x, [1, 2, 2]), [1, 2, 2]);
    expect(back.device).toBe("cpu");
    expectClose(gather(back), r.data, 0, 0);
  });
});
