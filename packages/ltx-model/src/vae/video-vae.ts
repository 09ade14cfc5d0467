import { A2VError } from "@a2v/errors";
import { add, conv3d, type Device, flush, init, pixelNorm, slice, type Tensor, tensor } from "@a2v/tensor-webgpu";
import { param } from "./component-weights.js";
import { videoScaleFactors } from "./config.js";
import { type ConvSpec, layoutConvs, MEAN_OF_MEANS, STD_OF_MEANS, type VaeStage } from "./layout.js";
import type { LoadedVideoVae } from "./load.js";
import { depthToSpaceSum, patchify, spaceToDepthSum, unpatchify } from "./rearrange.js";
import {
  type ConvWeights,
  denormalizeChannels,
  disposeVaeWeights,
  normalizeChannels,
  normSiluPadded,
  padFrames,
  type TensorTrace,
} from "./tensors.js";
import { DEFAULT_SPATIAL_TILING, runSpatialTiles, type SpatialTiling } from "./tiling.js";

const PIXEL_NORM_EPS = 1e-8;
/** k=3 convs zero-pad height and width; time is padded beforehand by replicating frames. */
const SPATIAL_PAD: [[number, number], [number, number], [number, number]] = [
  [0, 0],
  [1, 1],
  [1, 1],
];
/** Replicated frames [before, after] a k=3 conv: causal convs see the first frame twice in front. */
const timePad = (causal: boolean): [number, number] => (causal ? [2, 0] : [1, 1]);

/**
 * One half of the conv video VAE with its weights on one device. Every step disposes its input as soon
 * as its consumer is recorded (the order `planVideoVaeMemory` replays); the caller's input is never disposed.
 */
class VaeHalf {
  private constructor(
    readonly vae: LoadedVideoVae,
    private readonly convs: Map<string, ConvWeights>,
    private readonly mean: Tensor,
    private readonly std: Tensor,
  ) {}

  static upload(vae: LoadedVideoVae, device: Device): VaeHalf {
    const up = (key: string, shape?: number[]) => {
      const t = param(vae.weights, key);
      return tensor(t.data, shape ?? t.shape, "f32", device);
    };
    const convs = new Map(
      layoutConvs(vae.layout).map((s) => [s.key, { weight: up(`${s.key}.weight`), bias: up(`${s.key}.bias`) }]),
    );
    const stats = [1, vae.layout.latentChannels, 1, 1, 1];
    return new VaeHalf(vae, convs, up(MEAN_OF_MEANS, stats), up(STD_OF_MEANS, stats));
  }

  private conv(padded: Tensor, spec: ConvSpec): Tensor {
    const { weight, bias } = this.convs.get(spec.key)!;
    return conv3d(padded, weight, { padding: SPATIAL_PAD, bias });
  }

  /** conv(x) with replicated time padding; disposes x. */
  private convPadded(x: Tensor, spec: ConvSpec, [before, after]: [number, number]): Tensor {
    const padded = padFrames(x, before, after);
    x.dispose();
    const y = this.conv(padded, spec);
    padded.dispose();
    return y;
  }

  /** conv(silu(pixelNorm(x))) with replicated time padding; disposes x. */
  private convNormed(x: Tensor, spec: ConvSpec, [before, after]: [number, number]): Tensor {
    const normed = normSiluPadded(x, PIXEL_NORM_EPS, before, after);
    x.dispose();
    const y = this.conv(normed, spec);
    normed.dispose();
    return y;
  }

  /** Runs one stage on x (disposed). Resolves after each res layer is submitted, so freed buffers return to the pool. */
  private async stage(x: Tensor, stage: VaeStage, causal: boolean): Promise<Tensor> {
    switch (stage.kind) {
      case "res":
        for (const layer of stage.layers) {
          const h = this.convNormed(this.keepAlias(x), layer.conv1, timePad(causal));
          const h2 = this.convNormed(h, layer.conv2, timePad(causal));
          const next = add(x, h2);
          x.dispose();
          h2.dispose();
          x = next;
          await submit(x);
        }
        return x;
      case "down": {
        // Always causal; at time stride 2 the duplicated first frame is one more replicated frame.
        const dup = stage.stride[0] === 2 ? 1 : 0;
        const padded = padFrames(x, 2 + dup, 0);
        x.dispose();
        const conv = this.conv(padded, stage.conv);
        const withDup = slice(padded, 2, 2);
        padded.dispose();
        return spaceToDepthSum(withDup, conv, stage.stride, stage.groupSize);
      }
      case "up": {
        const conv = this.convPadded(this.keepAlias(x), stage.conv, timePad(causal));
        const out = depthToSpaceSum(conv, stage.stride, stage.residual ? x : undefined);
        x.dispose();
        return out;
      }
    }
  }

  /** A second handle on x, for a helper that disposes its input while the caller still needs x. */
  private keepAlias(x: Tensor): Tensor {
    return x.view(x.shape, x.strides, x.offset);
  }

  async encode(video: Tensor, trace?: TensorTrace): Promise<Tensor> {
    const { layout, config } = this.vae;
    const scale = videoScaleFactors(config);
    const [, c, f, h, w] = video.shape as number[];
    const channels = layout.convIn.inChannels / config.patchSize ** 2;
    if (video.rank !== 5 || c !== channels || (f! - 1) % scale.time || h! % scale.height || w! % scale.width) {
      throw new A2VError(
        "vae_input_shape",
        `video [${video.shape}] must be [B, ${channels}, 1 + ${scale.time}k, H, W] with H, W multiples of ${scale.height}`,
        { status: 422 },
      );
    }
    let x = patchify(video, config.patchSize);
    await emit(trace, "enc_patchified", x);
    x = this.convPadded(x, layout.convIn, timePad(true));
    await emit(trace, "enc_conv_in", x);
    for (const [i, stage] of layout.stages.entries()) {
      x = await this.stage(x, stage, true);
      await emit(trace, `enc_down_${i}`, x);
    }
    x = this.convNormed(x, layout.convOut, timePad(true));
    await emit(trace, "enc_conv_out", x);
    const means = slice(x, 1, 0, layout.latentChannels);
    x.dispose();
    if (trace) await emit(trace, "enc_means_unnormalized", means);
    const latent = normalizeChannels(means, this.mean, this.std);
    means.dispose();
    return latent;
  }

  async decode(latent: Tensor, trace?: TensorTrace): Promise<Tensor> {
    const { layout, config } = this.vae;
    if (latent.rank !== 5 || latent.shape[1] !== layout.latentChannels) {
      throw new A2VError("vae_input_shape", `latent [${latent.shape}] must be [B, ${layout.latentChannels}, F, H, W]`, {
        status: 422,
      });
    }
    let x = denormalizeChannels(latent, this.mean, this.std);
    await emit(trace, "dec_unnormalized", x);
    x = this.convPadded(x, layout.convIn, timePad(layout.causal));
    await emit(trace, "dec_conv_in", x);
    for (const [i, stage] of layout.stages.entries()) {
      x = await this.stage(x, stage, layout.causal);
      await emit(trace, `dec_up_${i}`, x);
    }
    if (trace) {
      // The fused norm + SiLU has no pixel-norm intermediate: computed apart, only for the trace.
      const normed = pixelNorm(x, 1, PIXEL_NORM_EPS);
      await emit(trace, "dec_norm_out", normed);
      normed.dispose();
    }
    x = this.convNormed(x, layout.convOut, timePad(layout.causal));
    await emit(trace, "dec_conv_out", x);
    const video = unpatchify(x, config.patchSize);
    x.dispose();
    return video;
  }

  dispose(): void {
    disposeVaeWeights(this.convs, this.mean, this.std);
  }
}

/** Submits the GPU work recorded so far, so freed buffers return to the pool (the CPU device runs eagerly). */
async function submit(x: Tensor): Promise<void> {
  if (x.device === "gpu") await flush();
}

/** Hands a view of x to the trace (disposed after it), then submits the work recorded so far. */
async function emit(trace: TensorTrace | undefined, name: string, x: Tensor): Promise<void> {
  if (trace) {
    const view = x.view(x.shape, x.strides, x.offset);
    try {
      await trace(name, view);
    } finally {
      view.dispose();
    }
  }
  await submit(x);
}

/**
 * The LTX-2.3 conv video VAE on `@a2v/tensor-webgpu`: encoder and/or decoder with their weights
 * resident on one device, the GPU (default) or the CPU device (f64, the reference). Inputs stay the
 * caller's and must live on that device; results are new tensors there, so a latent can go to the
 * transformer without a host round trip.
 */
export class VideoVae {
  private constructor(
    readonly device: Device,
    private readonly encoder: VaeHalf | undefined,
    private readonly decoder: VaeHalf | undefined,
  ) {}

  /** Puts the loaded halves (`loadVideoVae`) on `device`; on the GPU acquires the tensor runtime if needed. */
  static async create(
    parts: { encoder?: LoadedVideoVae; decoder?: LoadedVideoVae },
    options: { device?: Device } = {},
  ): Promise<VideoVae> {
    const device = options.device ?? "gpu";
    if (device === "gpu") await init();
    return new VideoVae(
      device,
      parts.encoder && VaeHalf.upload(parts.encoder, device),
      parts.decoder && VaeHalf.upload(parts.decoder, device),
    );
  }

  private half(part: "encoder" | "decoder"): VaeHalf {
    const half = part === "encoder" ? this.encoder : this.decoder;
    if (!half) throw new A2VError("vae_part_missing", `this VideoVae was created without its ${part}`);
    return half;
  }

  /** Video [B, 3, 1 + 8k, H, W] in [-1, 1] → normalised latent mean [B, 128, 1 + k, H/32, W/32] (never a sample). */
  encode(video: Tensor, trace?: TensorTrace): Promise<Tensor> {
    return this.half("encoder").encode(video, trace);
  }

  /** Normalised latent → video [B, 3, F, H, W], unclamped. */
  decode(latent: Tensor, trace?: TensorTrace): Promise<Tensor> {
    return this.half("decoder").decode(latent, trace);
  }

  /**
   * `encode` on overlapping spatial tiles (sizes in pixels, multiples of 32) blended with linear
   * ramps: activation memory is that of one tile (see `planVideoVaeMemory`) plus the output.
   */
  encodeTiled(video: Tensor, tiling: SpatialTiling = DEFAULT_SPATIAL_TILING): Promise<Tensor> {
    const half = this.half("encoder");
    const factor = videoScaleFactors(half.vae.config).height;
    return runSpatialTiles(video, (tile) => half.encode(tile), tiling.tileSize, tiling.overlap, 1 / factor);
  }

  /** `decode` on overlapping spatial tiles (tiling in output pixels). */
  decodeTiled(latent: Tensor, tiling: SpatialTiling = DEFAULT_SPATIAL_TILING): Promise<Tensor> {
    const half = this.half("decoder");
    const factor = videoScaleFactors(half.vae.config).height;
    return runSpatialTiles(
      latent,
      (tile) => half.decode(tile),
      tiling.tileSize / factor,
      tiling.overlap / factor,
      factor,
    );
  }

  /** Frees the weights. */
  dispose(): void {
    this.encoder?.dispose();
    this.decoder?.dispose();
  }
}
