import { type Device, fill, init, releaseGpu, tensor, upsampleNearest } from "@a2v/tensor-webgpu";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { toHost } from "../../src/vae/tensors.js";
import { runSpatialTiles, tileStarts } from "../../src/vae/tiling.js";
import { maxAbsErr } from "./golden.js";

beforeAll(() => init());
afterAll(() => releaseGpu());

describe("spatial tiling", () => {
  it("lays tiles at stride tile - overlap with the last one flush with the edge", () => {
    expect(tileStarts(10, 16, 4)).toEqual([0]);
    expect(tileStarts(16, 8, 2)).toEqual([0, 6, 8]);
    expect(tileStarts(20, 8, 2)).toEqual([0, 6, 12]);
  });

  for (const device of ["cpu", "gpu"] as Device[]) {
    it(`leaves a local op unchanged and blends to a partition of unity (up- and downscaling) on the ${device} device`, async () => {
      const x = tensor(
        Float32Array.from({ length: 2 * 3 * 10 * 14 }, (_, i) => Math.sin(i * 0.37)),
        [1, 2, 3, 10, 14],
        "f32",
        device,
      );
      // Nearest-neighbour ×4 upsampling is purely local: tiling must not change it.
      const up = async (t: typeof x) => upsampleNearest(t, [4, 4]);
      const tiled = await runSpatialTiles(x, up, 4, 2, 4);
      expect(tiled.device).toBe(device);
      expect(maxAbsErr(await toHost(tiled), await toHost(await up(x)))).toBeLessThan(1e-6);
      const ones = await runSpatialTiles(
        x,
        async (t) => fill([1, 1, 1, t.shape[3]! / 2, t.shape[4]! / 2], 1, "f32", device),
        4,
        2,
        0.5,
      );
      expect(ones.shape).toEqual([1, 1, 1, 5, 7]);
      const values = await ones.toArray();
      expect(Math.max(...Array.from(values, (v) => Math.abs(v - 1)))).toBeLessThan(1e-6);
    });
  }

  it("rejects tiles that do not map to whole output cells", async () => {
    const x = tensor(new Float32Array(64 * 64), [1, 1, 1, 64, 64]);
    await expect(runSpatialTiles(x, async (t) => t, 48, 8, 1 / 32)).rejects.toThrow(/whole latent cells/);
  });
});
