import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as ref from "../src/cpu/reference.js";
import * as T from "../src/index.js";
import { expectTensor, gpu, randNd } from "./helpers.js";

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
    await expectTensor(y, ref.conv3d(x, w, [1, 2, 2], pad, [1, 1, 1], bias), 1e-5, 1e-4);
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

  it("refuses to run on tensors that need gradients", () => {
    const x = T.tensor(new Array(8).fill(1), [1, 1, 2, 2, 2]).trainable();
    expect(() => T.conv3d(x, T.tensor([1], [1, 1, 1, 1, 1]))).toThrow(/noGrad/);
  });
});
