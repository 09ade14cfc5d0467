import type { ComponentWeights } from "../../vae/component-weights.js";
import { type HostTensor, hostTensor } from "../../vae/reference/tensor.js";
import type { Trace } from "../../vae/reference/video-vae.js";
import type { TextConnectorsConfig } from "../config.js";
import { connectorReference } from "./connector.js";
import { extractFeaturesReference } from "./feature-extractor.js";

const F32_MAX = 3.4028234663852886e38;

/** `convert_to_additive_mask`: 0 where valid, -finfo(float32).max where padded. */
export function additiveMask(mask: HostTensor): Float32Array {
  return Float32Array.from(mask.data, (m) => (m - 1) * F32_MAX);
}

/** Stable per-row order putting valid tokens first (`_compute_right_pad_order`): [B, T] indices. */
export function rightPadOrder(additive: Float32Array, batch: number): Int32Array {
  const t = additive.length / batch;
  const order = new Int32Array(additive.length);
  for (let n = 0; n < batch; n++) {
    const row = Array.from({ length: t }, (_, i) => i);
    const valid = row.filter((i) => additive[n * t + i]! >= 0);
    const pads = row.filter((i) => additive[n * t + i]! < 0);
    order.set([...valid, ...pads], n * t);
  }
  return order;
}

function gatherRows(x: HostTensor, order: Int32Array): HostTensor {
  const [b, t, d] = x.shape as [number, number, number];
  const out = new Float32Array(x.data.length);
  for (let n = 0; n < b; n++)
    for (let i = 0; i < t; i++) {
      const src = (n * t + order[n * t + i]!) * d;
      out.set(x.data.subarray(src, src + d), (n * t + i) * d);
    }
  return hostTensor([b, t, d], out);
}

export interface TextContexts {
  /** Transformer video context [B, T, videoDim] (multiplied by the returned mask). */
  video: HostTensor;
  /** Transformer audio context [B, T, audioDim] (not masked, as upstream). */
  audio: HostTensor;
  /** Binary context mask [B, T] (all ones when registers fill the pads). */
  mask: HostTensor;
}

/**
 * `EmbeddingsProcessor.create_embeddings` on the CPU: cached caption features + their 0/1 mask ->
 * the contexts the transformer attends to. Run every training step (the connectors are part of the DiT).
 */
export function createEmbeddingsReference(
  videoFeatures: HostTensor,
  audioFeatures: HostTensor,
  mask: HostTensor,
  config: TextConnectorsConfig,
  weights: ComponentWeights,
  trace?: Trace,
): TextContexts {
  const [b, t] = videoFeatures.shape as [number, number];
  const additive = additiveMask(mask);
  const order = rightPadOrder(additive, b);
  const sortedMask = Float32Array.from(order, (src, i) => additive[Math.floor(i / t) * t + src]!);
  trace?.("sort_idx", hostTensor([b, t], Float32Array.from(order)));
  trace?.("sorted_additive_mask", hostTensor([b, 1, 1, t], sortedMask));
  const videoSorted = gatherRows(videoFeatures, order);
  const audioSorted = gatherRows(audioFeatures, order);
  trace?.("video_features_sorted", videoSorted);
  trace?.("audio_features_sorted", audioSorted);
  const video = connectorReference(videoSorted, sortedMask, config.video, weights, "video_connector", trace);
  const audio = connectorReference(audioSorted, sortedMask, config.audio, weights, "audio_connector", trace);
  const binary = Float32Array.from(video.mask, (m) => (m < 1e-6 ? 1 : 0));
  const videoOut = new Float32Array(video.output.data.length);
  const dim = video.output.shape[2]!;
  for (let i = 0; i < videoOut.length; i++) videoOut[i] = video.output.data[i]! * binary[Math.floor(i / dim)]!;
  return { video: hostTensor([b, t, dim], videoOut), audio: audio.output, mask: hostTensor([b, t], binary) };
}

/** `process_hidden_states`: Gemma hidden states [B, T, D, L] + mask -> contexts (feature extractor + connectors). */
export function processHiddenStatesReference(
  hiddenStates: HostTensor,
  mask: HostTensor,
  config: TextConnectorsConfig,
  weights: ComponentWeights,
  trace?: Trace,
): TextContexts {
  const features = extractFeaturesReference(hiddenStates, mask, weights);
  trace?.("features_normed", features.normed);
  trace?.("video_features", features.video);
  trace?.("audio_features", features.audio);
  return createEmbeddingsReference(features.video, features.audio, mask, config, weights, trace);
}
