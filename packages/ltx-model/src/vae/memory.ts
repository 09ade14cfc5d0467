import { layoutParameters, type VaeLayout } from "./layout.js";

const bytesOf = (shape: number[]) => shape.reduce((a, b) => a * b, 4);

/** GPU memory of one encode or decode of a single batch item, as `GpuVideoVae` allocates it. */
export interface VaeMemoryPlan {
  /** Resident weights (float32). */
  weightBytes: number;
  /** High-water mark of activations (float32), excluding weights. */
  peakActivationBytes: number;
  /** Where the peak happens, e.g. `stage 0 (res)`. */
  peakAt: string;
  /** The largest single activation: what must fit one GPU buffer binding. */
  largestBufferBytes: number;
  outputShape: number[];
}

/**
 * Replays `GpuVideoVae`'s allocation order (each temporary freed right after its consumer) on
 * shapes alone, so full-size plans need no GPU. `itemShape` is the input of one item: [3, F, H, W]
 * for the encoder, [C, F', H', W'] for the decoder.
 */
export function planVideoVaeMemory(
  layout: VaeLayout,
  patchSize: number,
  part: "encoder" | "decoder",
  itemShape: number[],
): VaeMemoryPlan {
  let live = 0;
  let peak = 0;
  let peakAt = "";
  let largest = 0;
  let where = "input";
  const alloc = (shape: number[]) => {
    live += bytesOf(shape);
    largest = Math.max(largest, bytesOf(shape));
    if (live > peak) [peak, peakAt] = [live, where];
    return shape;
  };
  const free = (...shapes: number[][]) => {
    for (const s of shapes) live -= bytesOf(s);
  };
  let x = alloc(itemShape);
  if (part === "encoder") {
    where = "patchify";
    const [c, f, h, w] = x as [number, number, number, number];
    const p = alloc([c * patchSize * patchSize, f, h / patchSize, w / patchSize]);
    free(x);
    x = p;
  } else {
    where = "latent statistics";
    const y = alloc([...x]);
    free(x);
    x = y;
  }
  where = "conv_in";
  let y = alloc([layout.convIn.outChannels, ...x.slice(1)]);
  free(x);
  x = y;
  layout.stages.forEach((stage, i) => {
    where = `stage ${i} (${stage.kind})`;
    const [, d, h, w] = x as [number, number, number, number];
    if (stage.kind === "res") {
      for (let l = 0; l < stage.layers.length; l++) {
        const h1 = alloc([...x]);
        const h2 = alloc([...x]);
        free(h1);
        const h3 = alloc([...x]);
        free(h2);
        y = alloc([...x]);
        free(h3, x);
        x = y;
      }
      return;
    }
    const [s1, s2, s3] = stage.stride;
    if (stage.kind === "down") {
      const dup = s1 === 2 ? 1 : 0;
      const conv = alloc([stage.conv.outChannels, d + dup, h, w]);
      y = alloc([stage.outChannels, (d + dup) / s1, h / s2, w / s3]);
      free(conv, x);
    } else {
      const conv = alloc([stage.conv.outChannels, d, h, w]);
      y = alloc([stage.outChannels, d * s1 - (s1 === 2 ? 1 : 0), h * s2, w * s3]);
      free(conv, x);
    }
    x = y;
  });
  where = "conv_out";
  const normed = alloc([...x]);
  free(x);
  x = alloc([layout.convOut.outChannels, ...x.slice(1)]);
  free(normed);
  where = part === "encoder" ? "latent statistics" : "unpatchify";
  const [c, f, h, w] = x as [number, number, number, number];
  const out =
    part === "encoder"
      ? alloc([layout.latentChannels, f, h, w])
      : alloc([c / (patchSize * patchSize), f, h * patchSize, w * patchSize]);
  free(x);
  const weightBytes = layoutParameters(layout).reduce((s, p) => s + bytesOf(p.shape!), 0);
  return { weightBytes, peakActivationBytes: peak, peakAt, largestBufferBytes: largest, outputShape: out };
}
