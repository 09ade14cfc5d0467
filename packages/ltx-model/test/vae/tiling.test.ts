import { describe, expect, it } from "vitest";
import { type HostTensor, hostTensor } from "../../src/vae/reference/tensor.js";
import { runSpatialTiles, tileStarts } from "../../src/vae/tiling.js";
import { maxAbsErr } from "./golden.js";

/** A purely local op (nearest-neighbour ×k upsampling): tiling must not change it at all. */
async function upsample(x: HostTensor, k: number): Promise<HostTensor> {
  const [b, c, f, h, w] = x.shape as [number, number, number, number, number];
  const out = hostTensor([b, c, f, h * k, w * k]);
  for (let p = 0; p < b * c * f; p++)
    for (let y = 0; y < h * k; y++)
      for (let t = 0; t < w * k; t++)
        out.data[(p * h * k + y) * w * k + t] = x.data[(p * h + Math.floor(y / k)) * w + Math.floor(t / k)]!;
  return out;
}

describe("spatial tiling", () => {
  it("lays tiles at stride tile - overlap with the last one flush with the edge", () => {
    expect(tileStarts(10, 16, 4)).toEqual([0]);
    expect(tileStarts(16, 8, 2)).toEqual([0, 6, 8]);
    expect(tileStarts(20, 8, 2)).toEqual([0, 6, 12]);
  });

  it("leaves a local op unchanged and blends to a partition of unity (up- and downscaling)", async () => {
    const x = hostTensor([1, 2, 3, 10, 14]);
    for (let i = 0; i < x.data.length; i++) x.data[i] = Math.sin(i * 0.37);
    const tiled = await runSpatialTiles(x, (t) => upsample(t, 4), 4, 2, 4);
    expect(maxAbsErr(tiled, await upsample(x, 4))).toBeLessThan(1e-6);
    const ones = await runSpatialTiles(
      x,
      async (t) => ({
        shape: [1, 1, 1, t.shape[3]! / 2, t.shape[4]! / 2],
        data: new Float32Array((t.shape[3]! * t.shape[4]!) / 4).fill(1),
      }),
      4,
      2,
      0.5,
    );
    expect(ones.shape).toEqual([1, 1, 1, 5, 7]);
    expect(Math.max(...ones.data.map((v) => Math.abs(v - 1)))).toBeLessThan(1e-6);
  });

  it("rejects tiles that do not map to whole output cells", async () => {
    const x = hostTensor([1, 1, 1, 64, 64]);
    await expect(runSpatialTiles(x, async (t) => t, 48, 8, 1 / 32)).rejects.toThrow(/whole latent cells/);
  });
});
