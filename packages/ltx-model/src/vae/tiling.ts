import { A2VError } from "@a2v/errors";
import { type HostTensor, hostTensor } from "./reference/tensor.js";

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

function axisWeights(size: number, starts: number[], tile: number, k: number): Float64Array {
  const start = starts[k]!;
  const end = Math.min(start + tile, size);
  const prevEnd = k > 0 ? Math.min(starts[k - 1]! + tile, size) : start;
  const nextStart = k + 1 < starts.length ? starts[k + 1]! : end;
  return Float64Array.from({ length: end - start }, (_, i) => rampWeight(start + i, start, end, prevEnd, nextStart));
}

/**
 * Runs `run` on overlapping spatial tiles of x [B, C, F, H, W] (every frame at once) and blends the
 * outputs with linear ramps across the overlaps. `scale` is output/input spatial size (1/32 for
 * the encoder, 32 for the decoder); tiles and overlap are in input units and must map to whole
 * output cells. Peak GPU memory is that of one tile.
 */
export async function runSpatialTiles(
  x: HostTensor,
  run: (tile: HostTensor) => Promise<HostTensor>,
  tile: number,
  overlap: number,
  scale: number,
): Promise<HostTensor> {
  const [b, c, f, h, w] = x.shape as [number, number, number, number, number];
  if (!Number.isInteger(tile * scale) || !Number.isInteger(overlap * scale) || overlap * 2 > tile) {
    throw new A2VError(
      "vae_tiling_invalid",
      `tile ${tile} / overlap ${overlap} must map to whole latent cells and overlap at most half a tile`,
      { status: 422 },
    );
  }
  const rows = tileStarts(h, tile, overlap);
  const cols = tileStarts(w, tile, overlap);
  let acc: Float64Array | undefined;
  let weight: Float64Array | undefined;
  let outShape: number[] = [];
  for (const [ri, r0] of rows.entries()) {
    for (const [ci, c0] of cols.entries()) {
      const th = Math.min(tile, h - r0);
      const tw = Math.min(tile, w - c0);
      const piece = hostTensor([b, c, f, th, tw]);
      for (let plane = 0; plane < b * c * f; plane++)
        for (let y = 0; y < th; y++) {
          const src = (plane * h + r0 + y) * w + c0;
          piece.data.set(x.data.subarray(src, src + tw), (plane * th + y) * tw);
        }
      const out = await run(piece);
      const [ob, oc, of, oth, otw] = out.shape as [number, number, number, number, number];
      const [oh, ow] = [h * scale, w * scale];
      if (!acc || !weight) {
        outShape = [ob, oc, of, oh, ow];
        acc = new Float64Array(ob * oc * of * oh * ow);
        weight = new Float64Array(oh * ow);
      }
      const wy = axisWeights(
        oh,
        rows.map((s) => s * scale),
        tile * scale,
        ri,
      );
      const wx = axisWeights(
        ow,
        cols.map((s) => s * scale),
        tile * scale,
        ci,
      );
      const [y0, x0] = [r0 * scale, c0 * scale];
      for (let y = 0; y < oth; y++) for (let t = 0; t < otw; t++) weight[(y0 + y) * ow + x0 + t]! += wy[y]! * wx[t]!;
      for (let plane = 0; plane < ob * oc * of; plane++)
        for (let y = 0; y < oth; y++)
          for (let t = 0; t < otw; t++) {
            const i = (plane * oh + y0 + y) * ow + x0 + t;
            acc[i] = acc[i]! + out.data[(plane * oth + y) * otw + t]! * wy[y]! * wx[t]!;
          }
    }
  }
  const result = hostTensor(outShape);
  const area = weight!.length;
  for (let i = 0; i < result.data.length; i++) result.data[i] = acc![i]! / weight![i % area]!;
  return result;
}
