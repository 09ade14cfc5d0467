import { A2VError } from "@a2v/errors";
import { type ComponentWeights, param } from "../component-weights.js";
import { type ConvSpec, MEAN_OF_MEANS, STD_OF_MEANS, type VaeLayout, type VaeStage } from "../layout.js";
import { conv3d, replicateFrames } from "./conv.js";
import {
  depthToSpace,
  groupMeanChannels,
  patchifyVideo,
  sliceFrames,
  spaceToDepth,
  unpatchifyVideo,
} from "./rearrange.js";
import { add, type HostTensor, hostTensor, perChannelStatistics, pixelNorm, silu, sliceChannels } from "./tensor.js";

/** Pixel norm epsilon of the video VAE (ltx-core `PixelNorm` default). */
const PIXEL_NORM_EPS = 1e-8;

/** Named intermediates, for finding where a mismatch starts. */
export type Trace = (name: string, value: HostTensor) => void;

/**
 * CausalConv3d (k=3): time padded by replicating frames (causal: the first frame twice in front;
 * otherwise first and last once each), zero padding 1 in height and width.
 */
export function causalConv3d(x: HostTensor, spec: ConvSpec, weights: ComponentWeights, causal: boolean): HostTensor {
  const padded = causal ? replicateFrames(x, 2, 0) : replicateFrames(x, 1, 1);
  return conv3d(
    padded,
    { weight: param(weights, `${spec.key}.weight`), bias: param(weights, `${spec.key}.bias`).data },
    [1, 1, 1],
    [
      [0, 0],
      [1, 1],
      [1, 1],
    ],
  );
}

function repeatChannels(x: HostTensor, times: number): HostTensor {
  const [b, c] = x.shape as [number, number];
  const inner = x.data.length / (b * c);
  const out = new Float32Array(x.data.length * times);
  for (let n = 0; n < b; n++) {
    const src = x.data.subarray(n * c * inner, (n + 1) * c * inner);
    for (let r = 0; r < times; r++) out.set(src, (n * times + r) * c * inner);
  }
  return hostTensor([b, c * times, ...x.shape.slice(2)], out);
}

function runStage(x: HostTensor, stage: VaeStage, weights: ComponentWeights, causal: boolean): HostTensor {
  switch (stage.kind) {
    case "res":
      for (const layer of stage.layers) {
        let h = causalConv3d(silu(pixelNorm(x, PIXEL_NORM_EPS)), layer.conv1, weights, causal);
        h = causalConv3d(silu(pixelNorm(h, PIXEL_NORM_EPS)), layer.conv2, weights, causal);
        x = add(x, h);
      }
      return x;
    case "down": {
      // Stride-2 time: the first frame is duplicated so that 1 + 2k frames become 1 + k.
      if (stage.stride[0] === 2) x = replicateFrames(x, 1, 0);
      const skip = groupMeanChannels(spaceToDepth(x, stage.stride), stage.groupSize);
      return add(spaceToDepth(causalConv3d(x, stage.conv, weights, true), stage.stride), skip);
    }
    case "up": {
      const dropFirst = (t: HostTensor) => (stage.stride[0] === 2 ? sliceFrames(t, 1, t.shape[2]!) : t);
      const main = dropFirst(depthToSpace(causalConv3d(x, stage.conv, weights, causal), stage.stride));
      if (!stage.residual) return main;
      return add(main, dropFirst(repeatChannels(depthToSpace(x, stage.stride), stage.residualRepeat)));
    }
  }
}

function checkVideo(video: HostTensor, channels: number, timeFactor: number, spatialFactor: number): void {
  const [, c, f, h, w] = video.shape as number[];
  if (
    video.shape.length !== 5 ||
    c !== channels ||
    (f! - 1) % timeFactor !== 0 ||
    h! % spatialFactor ||
    w! % spatialFactor
  ) {
    throw new A2VError(
      "vae_input_shape",
      `video VAE input [${video.shape}] must be [B, ${channels}, 1 + ${timeFactor}k, H, W] with H and W multiples of ${spatialFactor}`,
      { status: 422 },
    );
  }
}

/**
 * The LTX video VAE encoder on the CPU (float64 accumulation): video [B, 3, F, H, W] in [-1, 1]
 * -> normalised posterior mean [B, C, 1 + (F-1)/8, H/32, W/32]. Never samples.
 */
export function encodeVideoReference(
  video: HostTensor,
  layout: VaeLayout,
  weights: ComponentWeights,
  patchSize: number,
  scale: { time: number; height: number },
  trace?: Trace,
): HostTensor {
  checkVideo(video, layout.convIn.inChannels / (patchSize * patchSize), scale.time, scale.height);
  let x = patchifyVideo(video, patchSize);
  trace?.("enc_patchified", x);
  x = causalConv3d(x, layout.convIn, weights, true);
  trace?.("enc_conv_in", x);
  layout.stages.forEach((stage, i) => {
    x = runStage(x, stage, weights, true);
    trace?.(`enc_down_${i}`, x);
  });
  x = causalConv3d(silu(pixelNorm(x, PIXEL_NORM_EPS)), layout.convOut, weights, true);
  trace?.("enc_conv_out", x);
  const means = sliceChannels(x, 0, layout.latentChannels);
  trace?.("enc_means_unnormalized", means);
  return perChannelStatistics(means, param(weights, MEAN_OF_MEANS).data, param(weights, STD_OF_MEANS).data, false);
}

/** The LTX-2.3 conv video VAE decoder on the CPU: normalised latent -> video [B, 3, F, H, W] (unclamped). */
export function decodeVideoReference(
  latent: HostTensor,
  layout: VaeLayout,
  weights: ComponentWeights,
  patchSize: number,
  trace?: Trace,
): HostTensor {
  if (latent.shape.length !== 5 || latent.shape[1] !== layout.latentChannels) {
    throw new A2VError("vae_input_shape", `latent [${latent.shape}] must be [B, ${layout.latentChannels}, F, H, W]`, {
      status: 422,
    });
  }
  let x = perChannelStatistics(latent, param(weights, MEAN_OF_MEANS).data, param(weights, STD_OF_MEANS).data, true);
  trace?.("dec_unnormalized", x);
  x = causalConv3d(x, layout.convIn, weights, layout.causal);
  trace?.("dec_conv_in", x);
  layout.stages.forEach((stage, i) => {
    x = runStage(x, stage, weights, layout.causal);
    trace?.(`dec_up_${i}`, x);
  });
  x = pixelNorm(x, PIXEL_NORM_EPS);
  trace?.("dec_norm_out", x);
  x = causalConv3d(silu(x), layout.convOut, weights, layout.causal);
  trace?.("dec_conv_out", x);
  return unpatchifyVideo(x, patchSize);
}
