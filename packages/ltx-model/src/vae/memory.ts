import { bucketSize } from "@a2v/tensor-webgpu";
import { type VideoVaeConfig, videoScaleFactors } from "./config.js";
import { layoutParameters, type VaeLayout, videoDecoderLayout } from "./layout.js";

const numelOf = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

/** GPU memory of one encode or decode, as `VideoVae` on the GPU takes it from `@a2v/tensor-webgpu`'s buffer pool. */
export interface VaeMemoryPlan {
  /** Resident weights (float32, pool buckets). */
  weightBytes: number;
  /** High-water mark of the pool's live bytes the run adds (its own input excluded): what the pool's `liveBytes` reaches. */
  peakActivationBytes: number;
  /** Where the peak happens, e.g. `stage 0 (res)`. */
  peakAt: string;
  /** The largest single activation (unrounded): what must fit one GPU buffer binding. */
  largestBufferBytes: number;
  outputShape: number[];
}

/** A live activation: its logical shape and the pool bucket it holds (an up stage's frame drop keeps the full buffer). */
interface Live {
  shape: number[];
  bytes: number;
}

/**
 * Replays `VideoVae`'s allocation order (each temporary freed right after its consumer is
 * recorded, in pool buckets) on shapes alone, so full-size plans need no GPU. `inputShape` is
 * [B, 3, F, H, W] for the encoder, [B, C, F', H', W'] for the decoder.
 */
export function planVideoVaeMemory(
  layout: VaeLayout,
  patchSize: number,
  part: "encoder" | "decoder",
  inputShape: number[],
): VaeMemoryPlan {
  let live = 0;
  let peak = 0;
  let peakAt = "";
  let largest = 0;
  let where = "";
  const alloc = (shape: number[], allocated = shape): Live => {
    const bytes = bucketSize(numelOf(allocated) * 4);
    live += bytes;
    largest = Math.max(largest, numelOf(allocated) * 4);
    if (live > peak) [peak, peakAt] = [live, where];
    return { shape, bytes };
  };
  const free = (...ts: Live[]) => {
    for (const t of ts) live -= t.bytes;
  };
  const padded = (x: Live, frames: number) => {
    const [b, c, d, h, w] = x.shape as [number, number, number, number, number];
    return alloc([b, c, d + frames, h, w]);
  };
  /** convPadded / convNormed: padded copy (2 replicated frames, causal or not), input freed, conv output, padded freed. */
  const conv = (x: Live, outChannels: number, frames: number, freeInput = true): Live => {
    const p = padded(x, frames);
    if (freeInput) free(x);
    const y = alloc([x.shape[0]!, outChannels, ...x.shape.slice(2)]);
    free(p);
    return y;
  };
  let x: Live;
  const [b, c, f, h, w] = inputShape as [number, number, number, number, number];
  if (part === "encoder") {
    where = "patchify";
    x = alloc([b, c * patchSize * patchSize, f, h / patchSize, w / patchSize]);
  } else {
    where = "latent statistics";
    x = alloc([...inputShape]);
  }
  where = "conv_in";
  x = conv(x, layout.convIn.outChannels, 2);
  layout.stages.forEach((stage, i) => {
    where = `stage ${i} (${stage.kind})`;
    const [nb, ch, d, hh, ww] = x.shape as [number, number, number, number, number];
    if (stage.kind === "res") {
      for (let l = 0; l < stage.layers.length; l++) {
        const h1 = conv(x, ch, 2, false);
        const h2 = conv(h1, ch, 2);
        const next = alloc([...x.shape]);
        free(x, h2);
        x = next;
      }
      return;
    }
    const [s1, s2, s3] = stage.stride;
    if (stage.kind === "down") {
      const dup = s1 === 2 ? 1 : 0;
      const p = padded(x, 2 + dup);
      free(x);
      const convOut = alloc([nb, stage.conv.outChannels, d + dup, hh, ww]);
      const outShape = [nb, stage.outChannels, (d + dup) / s1, hh / s2, ww / s3];
      if (stage.groupSize > 1) {
        const packed = alloc([nb, ch, d + dup, hh, ww]);
        free(p);
        const means = alloc(outShape);
        free(packed);
        x = alloc(outShape);
        free(convOut, means);
      } else {
        x = alloc(outShape);
        free(p, convOut);
      }
      return;
    }
    const convOut = conv(x, stage.conv.outChannels, 2, false);
    const full = [nb, stage.outChannels, d * s1, hh * s2, ww * s3];
    const next = alloc([nb, stage.outChannels, d * s1 - (s1 === 2 ? 1 : 0), hh * s2, ww * s3], full);
    free(convOut, x);
    x = next;
  });
  where = "conv_out";
  x = conv(x, layout.convOut.outChannels, 2);
  where = part === "encoder" ? "latent statistics" : "unpatchify";
  const [, oc, of, oh, ow] = x.shape as [number, number, number, number, number];
  const out = alloc(
    part === "encoder"
      ? [b, layout.latentChannels, of, oh, ow]
      : [b, oc / (patchSize * patchSize), of, oh * patchSize, ow * patchSize],
  );
  free(x);
  const weightBytes = layoutParameters(layout).reduce((s, p) => s + bucketSize(numelOf(p.shape!) * 4), 0);
  return { weightBytes, peakActivationBytes: peak, peakAt, largestBufferBytes: largest, outputShape: out.shape };
}

/** What decoding one validation clip needs on the GPU, untiled and tiled. */
export interface DecodeMemoryPlan {
  /** Latent `[1, C, F', H', W']` of the clip. */
  latentShape: number[];
  untiled: VaeMemoryPlan;
  /** One spatial × temporal tile's run plus the blended output it writes into (the weights counted once). */
  tiled: { tileLatentShape: number[]; tile: VaeMemoryPlan; outputBytes: number; totalBytes: number };
}

/**
 * The decoder's memory for a `width`×`height`×`frames` clip, planned on shapes alone: untiled, and with tiles of
 * `tileSize` pixels and `tileFrames` frames (upstream's 512 px / 64 frames), where each tile's activations come and
 * go while the blended output stays.
 */
export function planDecodeMemory(
  config: VideoVaeConfig,
  clip: { width: number; height: number; frames: number },
  tiling: { tileSize: number; tileFrames: number } = { tileSize: 512, tileFrames: 64 },
): DecodeMemoryPlan {
  const f = videoScaleFactors(config);
  const latent = (frames: number, height: number, width: number) => [
    1,
    config.latentChannels,
    1 + Math.floor((frames - 1) / f.time),
    height / f.height,
    width / f.width,
  ];
  const layout = videoDecoderLayout(config);
  const latentShape = latent(clip.frames, clip.height, clip.width);
  const untiled = planVideoVaeMemory(layout, config.patchSize, "decoder", latentShape);
  const tileLatentShape = latent(
    Math.min(clip.frames, tiling.tileFrames + 1),
    Math.min(clip.height, tiling.tileSize),
    Math.min(clip.width, tiling.tileSize),
  );
  const tile = planVideoVaeMemory(layout, config.patchSize, "decoder", tileLatentShape);
  const outputBytes = bucketSize(3 * clip.frames * clip.height * clip.width * 4);
  return {
    latentShape,
    untiled,
    tiled: {
      tileLatentShape,
      tile,
      outputBytes,
      totalBytes: tile.weightBytes + tile.peakActivationBytes + outputBytes,
    },
  };
}
