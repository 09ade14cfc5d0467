import { A2VError } from "@a2v/errors";
import { map, mapInto, scope, slice, type Tensor, tensor, zeros } from "@a2v/tensor-webgpu";

/** Spatial tiles in pixels (multiples of the VAE's spatial factor): upstream defaults 512 and 64. */
export interface SpatialTiling {
  tileSize: number;
  overlap: number;
}

export const DEFAULT_SPATIAL_TILING: SpatialTiling = { tileSize: 512, overlap: 64 };

/** Tile starts along one axis: stride tile - overlap, the last tile flush with the end. */
export function tileStarts(size: number, tile: number, overlap: number): number[] {
  if (tile >= size) return [0];
  const starts = [0];
  while (starts.at(-1)! + tile < size) starts.push(Math.min(starts.at(-1)! + tile - overlap, size - tile));
  return starts;
}

/**
 * Blend weight of output position u of a tile [start, end) along one axis: linear ramps across the
 * parts shared with the previous tile (ending at prevEnd) and the next (starting at nextStart).
 */
function rampWeight(u: number, start: number, end: number, prevEnd: number, nextStart: number): number {
  let w = 1;
  if (u < prevEnd) w = Math.min(w, (u - start + 0.5) / (prevEnd - start));
  if (u >= nextStart) w = Math.min(w, (end - u - 0.5) / (end - nextStart));
  return w;
}

/** Each tile's ramp along one axis divided by the ramps' sum there: the tiles' weights add up to exactly 1. */
function axisWeights(size: number, starts: number[], tile: number): Float32Array[] {
  const ramps = starts.map((start, k) => {
    const end = Math.min(start + tile, size);
    const prevEnd = k > 0 ? Math.min(starts[k - 1]! + tile, size) : start;
    const nextStart = k + 1 < starts.length ? starts[k + 1]! : end;
    return Float64Array.from({ length: end - start }, (_, i) => rampWeight(start + i, start, end, prevEnd, nextStart));
  });
  const total = new Float64Array(size);
  ramps.forEach((r, k) => {
    for (const [i, v] of r.entries()) total[starts[k]! + i]! += v;
  });
  return ramps.map((r, k) => Float32Array.from(r, (v, i) => v / total[starts[k]! + i]!));
}

/**
 * Runs `run` on overlapping spatial tiles of x [B, C, F, H, W] (views; every frame at once) and
 * blends the outputs with linear ramps across the overlaps, on x's device. `scale` is output/input
 * spatial size (1/32 for the encoder, 32 for the decoder); tiles and overlap are in input units
 * and must map to whole output cells. Activation memory is that of one tile plus the output.
 */
export async function runSpatialTiles(
  x: Tensor,
  run: (tile: Tensor) => Promise<Tensor>,
  tile: number,
  overlap: number,
  scale: number,
): Promise<Tensor> {
  const [, , , h, w] = x.shape as [number, number, number, number, number];
  if (!Number.isInteger(tile * scale) || !Number.isInteger(overlap * scale) || overlap * 2 > tile) {
    throw new A2VError(
      "vae_tiling_invalid",
      `tile ${tile} / overlap ${overlap} must map to whole latent cells and overlap at most half a tile`,
      { status: 422 },
    );
  }
  const rows = tileStarts(h, tile, overlap);
  const cols = tileStarts(w, tile, overlap);
  const [oh, ow] = [h * scale, w * scale];
  const wy = axisWeights(
    oh,
    rows.map((s) => s * scale),
    tile * scale,
  );
  const wx = axisWeights(
    ow,
    cols.map((s) => s * scale),
    tile * scale,
  );
  let acc: Tensor | undefined;
  for (const [ri, r0] of rows.entries()) {
    for (const [ci, c0] of cols.entries()) {
      const piece = scope(() => slice(slice(x, 3, r0, r0 + tile), 4, c0, c0 + tile));
      const out = await run(piece);
      piece.dispose();
      acc ??= zeros([out.shape[0]!, out.shape[1]!, out.shape[2]!, oh, ow], "f32", x.device);
      const accumulated = acc;
      scope(() => {
        const [y0, x0] = [r0 * scale, c0 * scale];
        const region = slice(slice(accumulated, 3, y0, y0 + out.shape[3]!), 4, x0, x0 + out.shape[4]!);
        const weights = [
          tensor(wy[ri]!, [wy[ri]!.length, 1], "f32", x.device),
          tensor(wx[ci]!, undefined, "f32", x.device),
        ];
        // Two passes: a dispatch cannot read and write the same buffer.
        mapInto("x0", [map("x0 + x1 * x2 * x3", [region, out, ...weights])], region);
      });
      out.dispose();
    }
  }
  return acc!;
}
