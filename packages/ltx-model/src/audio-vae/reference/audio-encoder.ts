import { A2VError } from "@a2v/errors";
import { type ComponentWeights, param } from "../../vae/component-weights.js";
import { conv3d } from "../../vae/reference/conv.js";
import {
  add,
  type HostTensor,
  hostTensor,
  pixelNorm,
  reshape,
  silu,
  sliceChannels,
} from "../../vae/reference/tensor.js";
import type { Trace } from "../../vae/reference/video-vae.js";
import type { AudioEncoderLayout, AudioResBlock, Conv2dSpec } from "../layout.js";

/** The audio VAE's PixelNorm epsilon (`build_normalization_layer(pixel)`). */
const PIXEL_NORM_EPS = 1e-6;

/**
 * Conv2d on [B, C, time, mel] as a depth-1 conv3d. Causal in time: a k×k conv pads time k-1 before
 * and 0 after, mel (k-1)/2 each side; the stride-2 downsample pads time 2/0 and mel 0/1.
 */
function conv2d(x: HostTensor, spec: Conv2dSpec, weights: ComponentWeights, downsample = false): HostTensor {
  const [b, c, t, m] = x.shape as [number, number, number, number];
  const w = param(weights, `${spec.key}.weight`);
  const k = spec.kernel;
  const weight = reshape(w, [spec.outChannels, spec.inChannels, 1, k, k]);
  const time: [number, number] = downsample ? [2, 0] : [k - 1, 0];
  const mel: [number, number] = downsample ? [0, 1] : [(k - 1) >> 1, (k - 1) >> 1];
  const s = downsample ? 2 : 1;
  const y = conv3d(
    reshape(x, [b, c, 1, t, m]),
    { weight, bias: param(weights, `${spec.key}.bias`).data },
    [1, s, s],
    [[0, 0], time, mel],
  );
  return reshape(y, [b, spec.outChannels, y.shape[3]!, y.shape[4]!]);
}

function resBlock(x: HostTensor, block: AudioResBlock, weights: ComponentWeights): HostTensor {
  let h = conv2d(silu(pixelNorm(x, PIXEL_NORM_EPS)), block.conv1, weights);
  h = conv2d(silu(pixelNorm(h, PIXEL_NORM_EPS)), block.conv2, weights);
  return add(block.shortcut ? conv2d(x, block.shortcut, weights) : x, h);
}

/**
 * Per-channel statistics over patchified tokens: channel c, mel bin f of a [B, C, T, F] latent is
 * token feature c·F + f, normalised as (x - mean) / std.
 */
function normalizeLatent(means: HostTensor, mean: Float32Array, std: Float32Array): HostTensor {
  const [b, c, t, f] = means.shape as [number, number, number, number];
  const out = new Float32Array(means.data.length);
  for (let n = 0; n < b; n++)
    for (let k = 0; k < c; k++)
      for (let i = 0; i < t; i++)
        for (let j = 0; j < f; j++) {
          const idx = ((n * c + k) * t + i) * f + j;
          out[idx] = (means.data[idx]! - mean[k * f + j]!) / std[k * f + j]!;
        }
  return hostTensor([b, c, t, f], out);
}

/**
 * The LTX audio VAE encoder on the CPU: log-mel [B, 2, T, mel] -> normalised posterior mean
 * [B, z, T', mel/4] (T' = ceil(T/4) with the default 3 levels). Never samples.
 */
export function encodeAudioReference(
  mel: HostTensor,
  layout: AudioEncoderLayout,
  weights: ComponentWeights,
  trace?: Trace,
): HostTensor {
  if (mel.shape.length !== 4 || mel.shape[1] !== layout.convIn.inChannels) {
    throw new A2VError("audio_vae_input_shape", `mel [${mel.shape}] must be [B, ${layout.convIn.inChannels}, T, mel]`, {
      status: 422,
    });
  }
  let h = conv2d(mel, layout.convIn, weights);
  trace?.("enc_conv_in", h);
  layout.levels.forEach((level, i) => {
    for (const block of level.blocks) h = resBlock(h, block, weights);
    trace?.(`enc_down_${i}_blocks`, h);
    if (level.downsample) {
      h = conv2d(h, level.downsample, weights, true);
      trace?.(`enc_down_${i}_downsample`, h);
    }
  });
  for (const block of layout.mid) h = resBlock(h, block, weights);
  trace?.("enc_mid", h);
  h = conv2d(silu(pixelNorm(h, PIXEL_NORM_EPS)), layout.convOut, weights);
  trace?.("enc_conv_out", h);
  const means = sliceChannels(h, 0, layout.zChannels);
  trace?.("enc_means", means);
  const statWidth = layout.zChannels * means.shape[3]!;
  if (statWidth !== layout.statisticsWidth) {
    throw new A2VError(
      "audio_vae_input_shape",
      `mel with ${mel.shape[3]} bins gives ${statWidth} latent features; the statistics have ${layout.statisticsWidth}`,
      { status: 422 },
    );
  }
  return normalizeLatent(
    means,
    param(weights, "per_channel_statistics.mean-of-means").data,
    param(weights, "per_channel_statistics.std-of-means").data,
  );
}
