import type { WeightSource } from "../weights/checkpoint.js";
import { type ComponentWeights, loadComponentWeights } from "./component-weights.js";
import type { VideoVaeConfig } from "./config.js";
import {
  layoutParameters,
  type VaeLayout,
  videoDecoderLayout,
  videoEncoderLayout,
  videoVaeKeyLayouts,
} from "./layout.js";

/** One half of the video VAE with its parameters, ready for the CPU reference or the GPU path. */
export interface LoadedVideoVae {
  config: VideoVaeConfig;
  layout: VaeLayout;
  weights: ComponentWeights;
}

/**
 * Loads the video VAE encoder or decoder from a checkpoint (module keys or released `vae.*` keys).
 * `file` names the checkpoint in errors, e.g. when a split pack has no VAE weights.
 */
export async function loadVideoVae(
  part: "encoder" | "decoder",
  source: WeightSource,
  config: VideoVaeConfig,
  file: string,
): Promise<LoadedVideoVae> {
  const layout = part === "encoder" ? videoEncoderLayout(config) : videoDecoderLayout(config);
  const weights = await loadComponentWeights(
    source,
    file,
    `video VAE ${part}`,
    layoutParameters(layout),
    videoVaeKeyLayouts(part),
  );
  return { config, layout, weights };
}
