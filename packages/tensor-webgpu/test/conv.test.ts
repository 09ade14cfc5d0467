import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as ref from "../src/cpu/reference.js";
import * as T from "../src/index.js";
import { expectClose, expectTensor, gpu, gpuGrads, randNd } from "./helpers.js";

beforeAll(() => T.init());
afterAll(() => T.releaseGpu());

describe("convolutions (implicit GEMM)", () => {
  it("conv3d with causal time padding, spatial stride 2 and bias", async () => {
    const x = randNd([2, 3, 4, 5, 6], 1);
    const w = randNd([5, 3, 3, 3, 3], 2);
    const bias = randNd([5], 3);
    const pad: Array<[number, number]> = [
      [2, 0],
      [1, 1],
      [1, 1],
    ];
    const y = T.conv3d(gpu(x), gpu(w), { stride: [1, 2, 2], padding: pad as never, bias: gpu(bias) });
    const want = ref.conv3d(x, w, [1, 2, 2], pad, [1, 1, 1], bias);
    await expectTensor(y, want, 1e-5, 1e-4);
    // The tiled implicit GEMM (what a GPU runs; CPU adapters run the shape-generic kernel unless told).
    const tiled = T.conv3d(gpu(x), gpu(w), {
      stride: [1, 2, 2],
      padding: pad as never,
      bias: gpu(bias),
      kernel: "tiled",
    });
    await expectTensor(tiled, want, 1e-5, 1e-4);
  });

  it("conv3d on a strided input view with dilation and 1x1x1 kernels", async () => {
    const x = randNd([1, 4, 3, 5, 4], 4);
    const xv = T.permute(gpu(ref.permute(x, [0, 2, 1, 3, 4])), [0, 2, 1, 3, 4]);
    expect(xv.isContiguous).toBe(false);
    const w = randNd([6, 4, 1, 3, 3], 5);
    const pad: Array<[number, number]> = [
      [0, 0],
      [2, 2],
      [2, 2],
    ];
    await expectTensor(
      T.conv3d(xv, gpu(w), { padding: pad as never, dilation: [1, 2, 2] }),
      ref.conv3d(x, w, [1, 1, 1], pad, [1, 2, 2]),
      1e-5,
      1e-4,
    );
    const w1 = randNd([70, 4, 1, 1, 1], 6);
    await expectTensor(
      T.conv3d(xv, gpu(w1)),
      ref.conv3d(
        x,
        w1,
        [1, 1, 1],
        [
          [0, 0],
          [0, 0],
          [0, 0],
        ],
        [1, 1, 1],
      ),
    );
  });

  // The CPU-adapter kernels (conv-direct.ts, conv-small.ts) on any adapter, against the CPU reference: ragged W
  // (not a multiple of the 4 positions per thread), Co not a multiple of 4 or 8, causal / uneven padding, strides
  // 1/2/3, dilation, batch 2, several channel groups and uniform windows, Ci split into accumulated chunks.
  for (const [name, xShape, wShape, stride, pad, dil] of [
    [
      "k3 causal, stride 1 (window path), Co 5, batch 2",
      [2, 3, 4, 5, 6],
      [5, 3, 3, 3, 3],
      [1, 1, 1],
      [
        [2, 0],
        [1, 1],
        [1, 1],
      ],
      [1, 1, 1],
    ],
    [
      "k3 stride [1,2,2], Co 5",
      [2, 3, 4, 5, 6],
      [5, 3, 3, 3, 3],
      [1, 2, 2],
      [
        [2, 0],
        [1, 1],
        [1, 1],
      ],
      [1, 1, 1],
    ],
    [
      "k3, W 13, Co 8 = Ci",
      [1, 8, 3, 7, 13],
      [8, 8, 3, 3, 3],
      [1, 1, 1],
      [
        [1, 1],
        [1, 1],
        [1, 1],
      ],
      [1, 1, 1],
    ],
    [
      "k3, Co 3 (4 channels per thread)",
      [1, 4, 3, 6, 9],
      [3, 4, 3, 3, 3],
      [1, 1, 1],
      [
        [2, 0],
        [1, 1],
        [1, 1],
      ],
      [1, 1, 1],
    ],
    [
      "k3 stride 2, uneven padding [0, 1]",
      [1, 3, 5, 8, 9],
      [6, 3, 3, 3, 3],
      [2, 2, 2],
      [
        [0, 1],
        [0, 1],
        [0, 1],
      ],
      [1, 1, 1],
    ],
    [
      "dilation [1,2,2], stride [1,1,3], kw 2",
      [1, 2, 3, 7, 11],
      [3, 2, 1, 3, 2],
      [1, 1, 3],
      [
        [0, 0],
        [2, 1],
        [0, 1],
      ],
      [1, 2, 2],
    ],
    [
      "1x1x1, Co 70 (9 groups of 8)",
      [1, 4, 3, 5, 4],
      [70, 4, 1, 1, 1],
      [1, 1, 1],
      [
        [0, 0],
        [0, 0],
        [0, 0],
      ],
      [1, 1, 1],
    ],
    [
      "Ci 64 k3, Co 20 (one group per 64 KiB window)",
      [1, 64, 2, 3, 6],
      [20, 64, 3, 3, 3],
      [1, 1, 1],
      [
        [2, 0],
        [1, 1],
        [1, 1],
      ],
      [1, 1, 1],
    ],
    [
      "Ci 100 k3 (two accumulated Ci chunks), Co 12",
      [1, 100, 2, 3, 5],
      [12, 100, 3, 3, 3],
      [1, 1, 1],
      [
        [1, 1],
        [1, 1],
        [1, 1],
      ],
      [1, 1, 1],
    ],
  ] as Array<[string, number[], number[], number[], Array<[number, number]>, number[]]>) {
    it(`direct and small conv3d kernels match the CPU reference (${name})`, async () => {
      const x = randNd(xShape, 50);
      const w = randNd(wShape, 51);
      const bias = randNd([wShape[0]!], 52);
      const want = ref.conv3d(x, w, stride, pad, dil, bias);
      const wantNoBias = ref.conv3d(x, w, stride, pad, dil);
      for (const kernel of ["direct", "small"] as const) {
        const opts = { stride: stride as never, padding: pad as never, dilation: dil as never, kernel };
        await expectTensor(T.conv3d(gpu(x), gpu(w), { ...opts, bias: gpu(bias) }), want, 1e-5, 1e-4);
        await expectTensor(T.conv3d(gpu(x), gpu(w), opts), wantNoBias, 1e-5, 1e-4);
      }
    });
  }

  it("direct conv3d reads strided and offset inputs, a strided bias and bf16 inputs", async () => {
    const x = randNd([2, 5, 3, 4, 7], 60);
    // x as a permuted view with an offset: a [3, 2, 5, 4, 7] tensor's slice, permuted to [2, 5, 3, 4, 7].
    const big = randNd([4, 2, 5, 4, 7], 61);
    big.data.set(ref.permute(x, [2, 0, 1, 3, 4]).data, 2 * 5 * 4 * 7);
    const bigT = gpu(big);
    const xs = T.slice(bigT, 0, 1, 4);
    const xv = T.permute(xs, [1, 2, 0, 3, 4]);
    expect(xv.isContiguous).toBe(false);
    const w = randNd([6, 5, 3, 3, 3], 62);
    const b2 = randNd([12], 63);
    const bT = gpu(b2);
    const bv = bT.view([6], [2], 1);
    const bias = { data: Float64Array.from({ length: 6 }, (_, i) => b2.data[1 + 2 * i]!), shape: [6] };
    const pad: Array<[number, number]> = [
      [2, 0],
      [1, 1],
      [1, 1],
    ];
    const want = ref.conv3d(x, w, [1, 1, 1], pad, [1, 1, 1], bias);
    await expectTensor(T.conv3d(xv, gpu(w), { padding: pad as never, bias: bv, kernel: "direct" }), want, 1e-5, 1e-4);
    // bf16 input and weights: the direct kernel against the tiled GEMM on the same rounded values.
    const xb = T.cast(gpu(x), "bf16");
    const wb = T.cast(gpu(w), "bf16");
    const tiled = await T.conv3d(xb, wb, { padding: pad as never, kernel: "tiled" }).toArray();
    const direct = await T.conv3d(xb, wb, { padding: pad as never, kernel: "direct" }).toArray();
    expectClose(direct, tiled, 1e-4, 1e-4);
  });

  it("conv2d with stride 2 and padding 1", async () => {
    const x = randNd([1, 2, 7, 9], 7);
    const w = randNd([3, 2, 3, 3], 8);
    const y = T.conv2d(gpu(x), gpu(w), { stride: 2, padding: 1 });
    const want = ref.conv3d(
      { data: x.data, shape: [1, 2, 1, 7, 9] },
      { data: w.data, shape: [3, 2, 1, 3, 3] },
      [1, 2, 2],
      [
        [0, 0],
        [1, 1],
        [1, 1],
      ],
      [1, 1, 1],
    );
    await expectTensor(y, { data: want.data, shape: [1, 3, 4, 5] }, 1e-5, 1e-4);
  });

  it("the analytic CPU gradients match finite differences of the CPU forward", () => {
    const x = randNd([1, 2, 3, 4, 3], 20);
    const w = randNd([2, 2, 2, 3, 2], 21);
    const bias = randNd([2], 22);
    const [stride, dil] = [
      [1, 2, 1],
      [1, 1, 2],
    ];
    const pad: Array<[number, number]> = [
      [1, 0],
      [1, 1],
      [0, 2],
    ];
    const y = ref.conv3d(x, w, stride, pad, dil, bias);
    const dy = randNd(y.shape, 23);
    const loss = (xs: ref.Nd[]): number => ref.dot(ref.conv3d(xs[0]!, xs[1]!, stride, pad, dil, xs[2]!), dy);
    const analytic = ref.conv3dGrad(x, w, stride, pad, dil, dy);
    for (let i = 0; i < 3; i++) expectClose(analytic[i]!.data, ref.numericGrad(loss, [x, w, bias], i), 1e-6, 1e-5);
  });

  for (const [name, xShape, wShape, stride, pad, dil] of [
    [
      "stride 2, causal time padding",
      [2, 3, 4, 5, 6],
      [4, 3, 3, 3, 3],
      [1, 2, 2],
      [
        [2, 0],
        [1, 1],
        [1, 1],
      ],
      [1, 1, 1],
    ],
    [
      "dilation 2, uneven padding, stride 3",
      [1, 2, 3, 7, 5],
      [3, 2, 1, 3, 2],
      [1, 3, 1],
      [
        [0, 0],
        [2, 1],
        [0, 1],
      ],
      [1, 2, 2],
    ],
  ] as Array<[string, number[], number[], number[], Array<[number, number]>, number[]]>) {
    it(`conv3d gradients of x, weight and bias (${name})`, async () => {
      const x = randNd(xShape, 30);
      const w = randNd(wShape, 31);
      const bias = randNd([wShape[0]!], 32);
      const ins = [gpu(x, true), gpu(w, true), gpu(bias, true)];
      const y = T.conv3d(ins[0]!, ins[1]!, {
        stride: stride as never,
        padding: pad as never,
        dilation: dil as never,
        bias: ins[2]!,
      });
      const want = ref.conv3d(x, w, stride, pad, dil, bias);
      await expectTensor(y, want, 1e-5, 1e-4);
      const dy = randNd(want.shape, 33);
      const grads = await gpuGrads(y, dy, ins);
      const analytic = ref.conv3dGrad(x, w, stride, pad, dil, dy);
      grads.forEach((g, i) => {
        expectClose(g, analytic[i]!.data, 1e-5, 1e-4);
      });
    });
  }

  it("conv2d gradients flow through its unit time axis", async () => {
    const x = randNd([1, 2, 5, 4], 40);
    const w = randNd([3, 2, 3, 3], 41);
    const ins = [gpu(x, true), gpu(w, true)];
    const y = T.conv2d(ins[0]!, ins[1]!, { stride: 2, padding: 1 });
    const dy = randNd(y.shape as number[], 42);
    const grads = await gpuGrads(y, dy, ins);
    const x5 = { data: x.data, shape: [1, 2, 1, 5, 4] };
    const w5 = { data: w.data, shape: [3, 2, 1, 3, 3] };
    const dy5 = { data: dy.data, shape: [1, 3, 1, ...(y.shape.slice(2) as number[])] };
    const pad: Array<[number, number]> = [
      [0, 0],
      [1, 1],
      [1, 1],
    ];
    const [dx, dw] = ref.conv3dGrad(x5, w5, [1, 2, 2], pad, [1, 1, 1], dy5);
    expectClose(grads[0]!, dx.data, 1e-5, 1e-4);
    expectClose(grads[1]!, dw.data, 1e-5, 1e-4);
  });

  it("a frozen convolution records nothing for backward", () => {
    const x = T.tensor(new Array(8).fill(1), [1, 1, 2, 2, 2]);
    const y = T.conv3d(x, T.tensor([1], [1, 1, 1, 1, 1]));
    expect(y.node).toBeUndefined();
  });
});
