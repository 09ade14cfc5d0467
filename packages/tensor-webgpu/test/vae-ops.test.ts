import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as ref from "../src/cpu/reference.js";
import * as T from "../src/index.js";
import { expectClose, expectTensor, gpu, gpuGrads, randNd } from "./helpers.js";

beforeAll(() => T.init());
afterAll(() => T.releaseGpu());

function cpuPixelNorm(x: ref.Nd, eps: number): ref.Nd {
  const ms = ref.mean(
    ref.zip([x], (v) => v * v),
    [1],
  );
  return ref.zip([x, ms], (v, m) => v / Math.sqrt(m + eps));
}

describe("VAE building blocks", () => {
  it("pixelNorm over channels with gradient", async () => {
    const x = randNd([2, 3, 2, 2], 1);
    const xg = gpu(x, true);
    const y = T.pixelNorm(xg, 1, 1e-6);
    await expectTensor(y, cpuPixelNorm(x, 1e-6), 1e-5, 1e-4);
    const w = randNd(x.shape, 2);
    const [g] = await gpuGrads(y, w, [xg]);
    expectClose(
      g!,
      ref.numericGrad(([a]) => ref.dot(cpuPixelNorm(a!, 1e-6), w), [x], 0),
      1e-4,
      1e-3,
    );
  });

  it("groupNorm with affine matches a per-group reference", async () => {
    const x = randNd([2, 4, 3], 3);
    const wt = randNd([4], 4);
    const bs = randNd([4], 5);
    const grouped = ref.layerNorm({ data: x.data, shape: [2, 2, 6] }, 1e-5);
    const want = ref.zip(
      [
        { data: grouped.data, shape: [2, 4, 3] },
        { ...wt, shape: [4, 1] },
        { ...bs, shape: [4, 1] },
      ],
      (v, a, b) => v * a + b,
    );
    await expectTensor(T.groupNorm(gpu(x), 2, gpu(wt), gpu(bs)), want, 1e-5, 1e-4);
  });

  it("upsampleNearest repeats elements along the trailing dims", async () => {
    const y = T.upsampleNearest(T.tensor([1, 2, 3, 4], [1, 1, 2, 2]), [2, 3]);
    expect(y.shape).toEqual([1, 1, 4, 6]);
    expect(Array.from(await y.toArray())).toEqual([
      1, 1, 1, 2, 2, 2, 1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4, 3, 3, 3, 4, 4, 4,
    ]);
  });

  it("depthToSpace follows the einops channel order and spaceToDepth inverts it", async () => {
    // b (c p1 p2) h w -> b c (h p1) (w p2) with c=1, p=2: channel index = p1·2 + p2.
    const x = T.tensor([0, 1, 2, 3], [1, 4, 1, 1]);
    const y = T.depthToSpace(x, [2, 2]);
    expect(y.shape).toEqual([1, 1, 2, 2]);
    expect(Array.from(await y.toArray())).toEqual([0, 1, 2, 3]);
    const r = randNd([1, 2, 2, 4, 6], 6);
    const s2d = T.spaceToDepth(gpu(r), [1, 2, 2]);
    expect(s2d.shape).toEqual([1, 8, 2, 2, 3]);
    await expectTensor(T.depthToSpace(s2d, [1, 2, 2]), r, 1e-7, 0);
    // spot check one element: out[0, c·4 + p1·2 + p2, d, h, w] = in[0, c, d, 2h + p1, 2w + p2]
    const got = await s2d.toArray();
    const [c, p1, p2, d, h, w] = [1, 1, 0, 1, 1, 2];
    const outIdx = (((c * 4 + p1 * 2 + p2) * 2 + d) * 2 + h) * 3 + w;
    const inIdx = ((c * 2 + d) * 4 + (2 * h + p1)) * 6 + (2 * w + p2);
    expect(got[outIdx]).toBeCloseTo(r.data[inIdx]!, 6);
  });
});
