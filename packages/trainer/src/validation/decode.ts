import { A2VError } from "@a2v/errors";
import { DEFAULT_SPATIAL_TILING, type SpatialTiling, tileStarts, type VideoVae } from "@a2v/ltx-model";
import { type HostTensor, hostTensor } from "@a2v/tensor-webgpu";
import { onGpu } from "../encode/encoders.js";

/** Temporal tiles of the VAE decode, in pixel frames (multiples of the VAE's time factor 8): upstream's 64 / 24. */
export interface TemporalTiling {
  tileFrames: number;
  overlapFrames: number;
}

export const DEFAULT_TEMPORAL_TILING: TemporalTiling = { tileFrames: 64, overlapFrames: 24 };

/** Linear ramps across the parts an interval shares with its neighbours, normalised to sum to 1 at every position. */
function rampWeights(ranges: [number, number][], size: number): Float32Array[] {
  const ramps = ranges.map(([start, end], k) => {
    const prevEnd = k > 0 ? ranges[k - 1]![1] : start;
    const nextStart = k + 1 < ranges.length ? ranges[k + 1]![0] : end;
    return Float64Array.from({ length: end - start }, (_, i) => {
      const u = start + i;
      let w = 1;
      if (u < prevEnd) w = Math.min(w, (u - start + 0.5) / (prevEnd - start));
      if (u >= nextStart) w = Math.min(w, (end - u - 0.5) / (end - nextStart));
      return w;
    });
  });
  const total = new Float64Array(size);
  ramps.forEach((r, k) => {
    for (const [i, v] of r.entries()) total[ranges[k]![0] + i]! += v;
  });
  return ramps.map((r, k) => Float32Array.from(r, (v, i) => v / total[ranges[k]![0] + i]!));
}

/**
 * Decodes a latent `[1, C, F', H', W']` in overlapping temporal chunks (each spatially tiled on the GPU), blended on
 * the host with linear ramps: GPU memory is that of one chunk, whatever the clip's length. A chunk of latent frames
 * [s, e) decodes to pixel frames [8s, 8(e − 1)] (the causal VAE turns its first latent frame into one frame), so
 * consecutive chunks share `overlapFrames` pixel frames. A clip within one tile decodes in one piece, exactly as
 * `decodeTiled`. Returns the video `[1, 3, 1 + 8(F' − 1), H, W]` on the host.
 */
export async function decodeTiledInTime(
  vae: VideoVae,
  latent: HostTensor,
  timeFactor: number,
  temporal: TemporalTiling = DEFAULT_TEMPORAL_TILING,
  spatial: SpatialTiling = DEFAULT_SPATIAL_TILING,
): Promise<HostTensor> {
  const [b, c, f, h, w] = latent.shape as [number, number, number, number, number];
  const tile = temporal.tileFrames / timeFactor;
  const overlap = temporal.overlapFrames / timeFactor;
  if (!Number.isInteger(tile) || !Number.isInteger(overlap) || overlap < 1 || 2 * overlap > tile) {
    throw new A2VError(
      "vae_tiling_invalid",
      `temporal tiles ${temporal.tileFrames} / ${temporal.overlapFrames} frames must be multiples of ${timeFactor} ` +
        "with an overlap of at least one latent frame and at most half a tile",
      { status: 422 },
    );
  }
  const decodeChunk = (chunk: HostTensor) => onGpu(chunk, (x) => vae.decodeTiled(x, spatial));
  // Overlapping chunks of at least overlap + 1 latent frames (tileStarts: stride tile − overlap, the last flush).
  const starts = tileStarts(f, tile + 1, overlap + 1);
  if (b !== 1) throw new A2VError("vae_input_shape", `temporal tiling decodes one latent at a time, got ${b}`);
  if (starts.length === 1) return decodeChunk(latent);
  const plane = h * w;
  const ranges = starts.map((s): [number, number] => {
    const e = Math.min(s + tile + 1, f);
    return [s * timeFactor, (e - 1) * timeFactor + 1];
  });
  const frames = (f - 1) * timeFactor + 1;
  const weights = rampWeights(ranges, frames);
  let out: HostTensor | undefined;
  for (const [k, s] of starts.entries()) {
    const e = Math.min(s + tile + 1, f);
    const chunk = hostTensor([1, c, e - s, h, w]);
    for (let ch = 0; ch < c; ch++)
      chunk.data.set(latent.data.subarray((ch * f + s) * plane, (ch * f + e) * plane), ch * (e - s) * plane);
    const decoded = await decodeChunk(chunk);
    const [, oc, of, oh, ow] = decoded.shape as [number, number, number, number, number];
    const outPlane = oh * ow;
    out ??= hostTensor([1, oc, frames, oh, ow]);
    const [from] = ranges[k]!;
    const wk = weights[k]!;
    for (let ch = 0; ch < oc; ch++)
      for (let z = 0; z < of; z++) {
        const weight = wk[z]!;
        const src = (ch * of + z) * outPlane;
        const dst = (ch * frames + from + z) * outPlane;
        for (let p = 0; p < outPlane; p++) out.data[dst + p]! += decoded.data[src + p]! * weight;
      }
  }
  return out!;
}
