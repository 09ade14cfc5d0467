import { A2VError } from "@a2v/errors";
import {
  add,
  type Conv2dOptions,
  conv2d,
  type Device,
  init,
  pixelNormSilu,
  slice,
  type Tensor,
  tensor,
} from "@a2v/tensor-webgpu";
import { param } from "../vae/component-weights.js";
import { type ConvWeights, disposeVaeWeights, normalizeChannels } from "../vae/tensors.js";
import type { AudioResBlock, Conv2dSpec } from "./layout.js";
import type { LoadedAudioEncoder } from "./load.js";

const PIXEL_NORM_EPS = 1e-6;

/** Causal in time (k-1 before, 0 after), centred in mel; the downsample pads time 2/0, mel 0/1 with stride 2. */
function geometry(spec: Conv2dSpec, downsample: boolean): Conv2dOptions {
  const k = spec.kernel;
  return downsample
    ? {
        stride: 2,
        padding: [
          [2, 0],
          [0, 1],
        ],
      }
    : {
        padding: [
          [k - 1, 0],
          [(k - 1) >> 1, (k - 1) >> 1],
        ],
      };
}

/**
 * The LTX audio VAE encoder on `@a2v/tensor-webgpu` (2-D causal convs, pixel norm + SiLU, per-channel
 * statistics over (channel, mel bin)) with its weights on one device, the GPU (default) or the CPU
 * device (f64, the reference). The latent stays on that device. Never samples.
 */
export class AudioEncoder {
  private constructor(
    readonly encoder: LoadedAudioEncoder,
    readonly device: Device,
    private readonly convs: Map<string, ConvWeights>,
    private readonly mean: Tensor,
    private readonly std: Tensor,
  ) {}

  /** Puts a loaded encoder (`loadAudioEncoder`) on `device`; on the GPU acquires the tensor runtime if needed. */
  static async create(encoder: LoadedAudioEncoder, options: { device?: Device } = {}): Promise<AudioEncoder> {
    const device = options.device ?? "gpu";
    if (device === "gpu") await init();
    const up = (key: string, shape?: number[]) => {
      const t = param(encoder.weights, key);
      return tensor(t.data, shape ?? t.shape, "f32", device);
    };
    const convs = new Map<string, ConvWeights>();
    for (const key of encoder.weights.keys()) {
      if (!key.endsWith(".weight")) continue;
      const base = key.slice(0, -".weight".length);
      convs.set(base, { weight: up(key), bias: up(`${base}.bias`) });
    }
    // Statistics over (channel, mel bin) pairs: [1, z, 1, mel'] broadcasts over [B, z, T', mel'].
    const { zChannels, statisticsWidth } = encoder.layout;
    const stats = [1, zChannels, 1, statisticsWidth / zChannels];
    return new AudioEncoder(
      encoder,
      device,
      convs,
      up("per_channel_statistics.mean-of-means", stats),
      up("per_channel_statistics.std-of-means", stats),
    );
  }

  private conv(x: Tensor, spec: Conv2dSpec, downsample = false): Tensor {
    const { weight, bias } = this.convs.get(spec.key)!;
    return conv2d(x, weight, { ...geometry(spec, downsample), bias });
  }

  /** Disposes x. */
  private resBlock(x: Tensor, block: AudioResBlock): Tensor {
    const n1 = pixelNormSilu(x, PIXEL_NORM_EPS);
    const h1 = this.conv(n1, block.conv1);
    n1.dispose();
    const n2 = pixelNormSilu(h1, PIXEL_NORM_EPS);
    h1.dispose();
    const h2 = this.conv(n2, block.conv2);
    n2.dispose();
    const skip = block.shortcut ? this.conv(x, block.shortcut) : x;
    const out = add(skip, h2);
    for (const t of [skip, x, h2]) t.dispose();
    return out;
  }

  /**
   * log-mel [B, 2, T, mel] → normalised latent mean [B, z, ceil(T/4), mel/4] (the input stays the caller's).
   * `trace` sees the intermediates the golden set names, each valid during the call (keep one with `value.view`).
   */
  encode(mel: Tensor, trace?: (name: string, value: Tensor) => void): Tensor {
    const { layout } = this.encoder;
    if (mel.rank !== 4 || mel.shape[1] !== layout.convIn.inChannels) {
      throw new A2VError(
        "audio_vae_input_shape",
        `mel [${mel.shape}] must be [B, ${layout.convIn.inChannels}, T, mel]`,
        { status: 422 },
      );
    }
    let x = this.conv(mel, layout.convIn);
    trace?.("enc_conv_in", x);
    const step = (next: Tensor) => {
      x.dispose();
      x = next;
    };
    for (const [i, level] of layout.levels.entries()) {
      for (const block of level.blocks) x = this.resBlock(x, block);
      trace?.(`enc_down_${i}_blocks`, x);
      if (level.downsample) {
        step(this.conv(x, level.downsample, true));
        trace?.(`enc_down_${i}_downsample`, x);
      }
    }
    for (const block of layout.mid) x = this.resBlock(x, block);
    trace?.("enc_mid", x);
    step(pixelNormSilu(x, PIXEL_NORM_EPS));
    step(this.conv(x, layout.convOut));
    trace?.("enc_conv_out", x);
    const bins = x.shape[3]!;
    if (layout.zChannels * bins !== layout.statisticsWidth) {
      x.dispose();
      throw new A2VError(
        "audio_vae_input_shape",
        `mel with ${mel.shape[3]} bins gives ${layout.zChannels * bins} latent features; the statistics have ${layout.statisticsWidth}`,
        { status: 422 },
      );
    }
    const means = slice(x, 1, 0, layout.zChannels);
    x.dispose();
    trace?.("enc_means", means);
    const latent = normalizeChannels(means, this.mean, this.std);
    means.dispose();
    return latent;
  }

  /** Frees the weights. */
  dispose(): void {
    disposeVaeWeights(this.convs, this.mean, this.std);
  }
}
