/**
 * Token positions and patchify/unpatchify for video and audio latents, as upstream's
 * `VideoLatentPatchifier`, `get_pixel_coords` and `AudioPatchifier` compute them (float32 results,
 * rounded at the same steps so RoPE angles match bit for bit).
 */

const f32 = Math.fround;

/** A latent grid and its patching; upstream LTX-2.x uses patch size 1 everywhere. */
export interface VideoLatentGrid {
  frames: number;
  height: number;
  width: number;
}

/** VAE compression per axis: LTX-2.x's video VAE is 8× in time, 32× in space. */
export interface VideoScaleFactors {
  time: number;
  height: number;
  width: number;
}

export const VIDEO_SCALE_FACTORS: VideoScaleFactors = { time: 8, height: 32, width: 32 };

/** Tokens per latent grid, ordered (f, h, w). */
export function videoTokenCount(grid: VideoLatentGrid, patchSize = 1): number {
  return grid.frames * Math.floor(grid.height / patchSize) * Math.floor(grid.width / patchSize);
}

/**
 * `[start, end)` latent bounds per token: `[3, N, 2]` (axis, token, bound), axes (frame, height, width).
 */
export function videoPatchGridBounds(grid: VideoLatentGrid, patchSize = 1): Float32Array {
  const gh = Math.floor(grid.height / patchSize);
  const gw = Math.floor(grid.width / patchSize);
  const n = grid.frames * gh * gw;
  const out = new Float32Array(3 * n * 2);
  let t = 0;
  for (let f = 0; f < grid.frames; f++) {
    for (let h = 0; h < gh; h++) {
      for (let w = 0; w < gw; w++) {
        const starts = [f, h * patchSize, w * patchSize];
        const sizes = [1, patchSize, patchSize];
        for (let a = 0; a < 3; a++) {
          out[(a * n + t) * 2] = starts[a]!;
          out[(a * n + t) * 2 + 1] = starts[a]! + sizes[a]!;
        }
        t++;
      }
    }
  }
  return out;
}

/**
 * Latent bounds → pixel-space bounds, `[3, N, 2]`: each axis scaled by the VAE factor; with
 * `causalFix` the time axis becomes `max(0, t + 1 − time)` (the causal VAE encodes frame 0 alone);
 * with `fps` time is divided by it so the time axis is in seconds (what the trainer feeds RoPE).
 */
export function videoPixelPositions(
  latentBounds: Float32Array,
  options: { scale?: VideoScaleFactors; causalFix?: boolean; fps?: number } = {},
): Float32Array {
  const scale = options.scale ?? VIDEO_SCALE_FACTORS;
  const n = latentBounds.length / 6;
  const out = new Float32Array(latentBounds.length);
  const factors = [scale.time, scale.height, scale.width];
  const fps = options.fps === undefined ? undefined : f32(options.fps);
  for (let a = 0; a < 3; a++) {
    for (let i = 0; i < 2 * n; i++) {
      let v = latentBounds[a * 2 * n + i]! * factors[a]!;
      if (a === 0 && options.causalFix) v = Math.max(0, v + 1 - scale.time);
      if (a === 0 && fps !== undefined) v = f32(v / fps);
      out[a * 2 * n + i] = v;
    }
  }
  return out;
}

/** Video positions as the trainer builds them: pixel bounds, causal fix, time in seconds. */
export function videoPositions(grid: VideoLatentGrid, fps: number, patchSize = 1): Float32Array {
  return videoPixelPositions(videoPatchGridBounds(grid, patchSize), { causalFix: true, fps });
}

export interface AudioTiming {
  sampleRate: number;
  hopLength: number;
  latentDownsample: number;
  causal: boolean;
  /** Offset in latent frames (overlapping windows). */
  shift: number;
}

/** LTX-2.x audio: 16 kHz, hop 160, 4× latent downsampling → 25 latent frames per second. */
export const AUDIO_TIMING: AudioTiming = {
  sampleRate: 16000,
  hopLength: 160,
  latentDownsample: 4,
  causal: true,
  shift: 0,
};

function audioLatentTimeSeconds(index: number, timing: AudioTiming): number {
  let mel = f32(index * timing.latentDownsample);
  if (timing.causal) mel = Math.max(0, mel + 1 - timing.latentDownsample);
  return f32(f32(mel * timing.hopLength) / timing.sampleRate);
}

/** `[start, end)` in seconds per audio token: `[1, T, 2]`. */
export function audioPositions(numSteps: number, timing: AudioTiming = AUDIO_TIMING): Float32Array {
  const out = new Float32Array(numSteps * 2);
  for (let i = 0; i < numSteps; i++) {
    out[2 * i] = audioLatentTimeSeconds(timing.shift + i, timing);
    out[2 * i + 1] = audioLatentTimeSeconds(timing.shift + i + 1, timing);
  }
  return out;
}

/** Audio latent frames for a duration: 25 per second (pipelines round, `AudioLatentShape.from_duration`). */
export function audioLatentFrames(seconds: number, timing: AudioTiming = AUDIO_TIMING): number {
  return Math.round((seconds * timing.sampleRate) / timing.hopLength / timing.latentDownsample);
}

/**
 * Visits every latent element once with its index in `[C, F, H, W]` latents and in `[N, C·p·p]` tokens
 * (tokens in (f, h, w) order, features in (c, ph, pw) order).
 */
function forEachPatchElement(
  channels: number,
  grid: VideoLatentGrid,
  patchSize: number,
  visit: (latent: number, token: number) => void,
): void {
  const { frames: F, height: H, width: W } = grid;
  const gh = H / patchSize;
  const gw = W / patchSize;
  const features = channels * patchSize * patchSize;
  for (let f = 0; f < F; f++)
    for (let h = 0; h < gh; h++)
      for (let w = 0; w < gw; w++) {
        const token = (f * gh + h) * gw + w;
        for (let c = 0; c < channels; c++)
          for (let p = 0; p < patchSize; p++)
            for (let q = 0; q < patchSize; q++) {
              const latent = ((c * F + f) * H + h * patchSize + p) * W + w * patchSize + q;
              visit(latent, token * features + (c * patchSize + p) * patchSize + q);
            }
      }
}

/** `[C, F, H, W]` → `[N, C·p·p]` tokens, order (f, h, w), features (c, ph, pw). */
export function patchifyVideo(
  latents: Float32Array,
  channels: number,
  grid: VideoLatentGrid,
  patchSize = 1,
): Float32Array {
  const out = new Float32Array(latents.length);
  forEachPatchElement(channels, grid, patchSize, (latent, token) => {
    out[token] = latents[latent]!;
  });
  return out;
}

/** Inverse of `patchifyVideo`. */
export function unpatchifyVideo(
  tokens: Float32Array,
  channels: number,
  grid: VideoLatentGrid,
  patchSize = 1,
): Float32Array {
  const out = new Float32Array(channels * grid.frames * grid.height * grid.width);
  forEachPatchElement(channels, grid, patchSize, (latent, token) => {
    out[latent] = tokens[token]!;
  });
  return out;
}

/** `[C, T, M]` audio latents → `[T, C·M]` tokens (channels × mel bins flattened per time step). */
export function patchifyAudio(latents: Float32Array, channels: number, frames: number, melBins: number): Float32Array {
  const out = new Float32Array(frames * channels * melBins);
  for (let c = 0; c < channels; c++)
    for (let t = 0; t < frames; t++)
      for (let m = 0; m < melBins; m++)
        out[t * channels * melBins + c * melBins + m] = latents[(c * frames + t) * melBins + m]!;
  return out;
}

/** Inverse of `patchifyAudio`. */
export function unpatchifyAudio(tokens: Float32Array, channels: number, frames: number, melBins: number): Float32Array {
  const out = new Float32Array(frames * channels * melBins);
  for (let c = 0; c < channels; c++)
    for (let t = 0; t < frames; t++)
      for (let m = 0; m < melBins; m++)
        out[(c * frames + t) * melBins + m] = tokens[t * channels * melBins + c * melBins + m]!;
  return out;
}
