import { A2VError } from "@a2v/errors";
import { param } from "../component-weights.js";
import { videoScaleFactors } from "../config.js";
import type { ConvSpec, VaeStage } from "../layout.js";
import { MEAN_OF_MEANS, STD_OF_MEANS } from "../layout.js";
import type { LoadedVideoVae } from "../load.js";
import { type HostTensor, hostTensor } from "../reference/tensor.js";
import type { Trace } from "../reference/video-vae.js";
import { DEFAULT_SPATIAL_TILING, runSpatialTiles, type SpatialTiling } from "../tiling.js";
import {
  channelStatsGpu,
  conv3dGpu,
  depthToSpaceGpu,
  type GpuConv,
  patchifyGpu,
  pixelNormSiluGpu,
  spaceToDepthGpu,
} from "./ops.js";
import { type GpuTensor, gpuDownload, gpuFree, gpuUpload, numelOf } from "./runtime.js";

const PIXEL_NORM_EPS = 1e-8;

/**
 * One half of the conv video VAE (encoder or decoder) with its weights resident on the GPU.
 * Runs one batch item at a time; intermediates are freed as soon as the next layer has consumed them.
 */
export class GpuVideoVae {
  private constructor(
    private readonly device: GPUDevice,
    readonly vae: LoadedVideoVae,
    private readonly part: "encoder" | "decoder",
    private readonly convs: Map<string, GpuConv>,
    private readonly mean: GpuTensor,
    private readonly std: GpuTensor,
  ) {}

  /** Uploads the weights of a loaded encoder or decoder. */
  static create(device: GPUDevice, vae: LoadedVideoVae, part: "encoder" | "decoder"): GpuVideoVae {
    const convs = new Map<string, GpuConv>();
    const upload = (key: string) => {
      const t = param(vae.weights, key);
      return gpuUpload(device, t.data, t.shape);
    };
    const add = (spec: ConvSpec) =>
      convs.set(spec.key, {
        weight: upload(`${spec.key}.weight`),
        bias: upload(`${spec.key}.bias`),
        inChannels: spec.inChannels,
        outChannels: spec.outChannels,
      });
    const { layout } = vae;
    add(layout.convIn);
    for (const stage of layout.stages) {
      if (stage.kind === "res") {
        for (const l of stage.layers) {
          add(l.conv1);
          add(l.conv2);
        }
      } else add(stage.conv);
    }
    add(layout.convOut);
    return new GpuVideoVae(device, vae, part, convs, upload(MEAN_OF_MEANS), upload(STD_OF_MEANS));
  }

  /** Encoder: video [B, 3, F, H, W] -> normalised latent mean. Decoder: latent -> video (unclamped). */
  async run(input: HostTensor, trace?: Trace): Promise<HostTensor> {
    const [b] = input.shape as [number];
    const itemShape = input.shape.slice(1);
    const outputs: Float32Array[] = [];
    let outShape: number[] = [];
    for (let n = 0; n < b; n++) {
      const size = numelOf(itemShape);
      const x = gpuUpload(this.device, input.data.subarray(n * size, (n + 1) * size), itemShape);
      const y = this.part === "encoder" ? await this.encodeItem(x, trace) : await this.decodeItem(x, trace);
      outputs.push(await gpuDownload(this.device, y));
      outShape = y.shape;
      gpuFree(y);
    }
    const out = hostTensor([b, ...outShape]);
    for (const [n, o] of outputs.entries()) out.data.set(o, n * o.length);
    return out;
  }

  /**
   * `run` on overlapping spatial tiles (sizes in pixels, multiples of 32) blended with linear ramps:
   * GPU memory is that of one tile (see `planVideoVaeMemory`); the output is assembled on the host.
   */
  async runTiled(input: HostTensor, tiling: SpatialTiling = DEFAULT_SPATIAL_TILING): Promise<HostTensor> {
    const factor = videoScaleFactors(this.vae.config).height;
    const run = (tile: HostTensor) => this.run(tile);
    return this.part === "encoder"
      ? runSpatialTiles(input, run, tiling.tileSize, tiling.overlap, 1 / factor)
      : runSpatialTiles(input, run, tiling.tileSize / factor, tiling.overlap / factor, factor);
  }

  private conv(x: GpuTensor, spec: ConvSpec, causal: boolean, residual?: GpuTensor): GpuTensor {
    const conv = this.convs.get(spec.key)!;
    return causal ? conv3dGpu(this.device, x, conv, 2, 0, residual) : conv3dGpu(this.device, x, conv, 1, 1, residual);
  }

  private async emit(trace: Trace | undefined, name: string, t: GpuTensor): Promise<void> {
    if (trace) trace(name, hostTensor([1, ...t.shape], await gpuDownload(this.device, t)));
  }

  /** Runs one stage, consuming (freeing) x. */
  private stage(x: GpuTensor, stage: VaeStage, causal: boolean): GpuTensor {
    const d = this.device;
    switch (stage.kind) {
      case "res":
        // Each temporary is freed right after its consumer is submitted: at most 3 activations live.
        for (const layer of stage.layers) {
          const h1 = pixelNormSiluGpu(d, x, PIXEL_NORM_EPS);
          const h2 = this.conv(h1, layer.conv1, causal);
          gpuFree(h1);
          const h3 = pixelNormSiluGpu(d, h2, PIXEL_NORM_EPS);
          gpuFree(h2);
          const next = this.conv(h3, layer.conv2, causal, x);
          gpuFree(h3, x);
          x = next;
        }
        return x;
      case "down": {
        // Always causal; the duplicated first frame at time stride 2 is one more replicated frame.
        const dup = stage.stride[0] === 2 ? 1 : 0;
        const conv = conv3dGpu(d, x, this.convs.get(stage.conv.key)!, 2 + dup, 0);
        const out = spaceToDepthGpu(d, x, conv, stage.stride, stage.outChannels, stage.groupSize);
        gpuFree(conv, x);
        return out;
      }
      case "up": {
        const conv = this.conv(x, stage.conv, causal);
        const out = depthToSpaceGpu(d, x, conv, stage.stride, stage.outChannels, stage.residual);
        gpuFree(conv, x);
        return out;
      }
    }
  }

  private async encodeItem(video: GpuTensor, trace?: Trace): Promise<GpuTensor> {
    const { layout, config } = this.vae;
    const [c, f, h, w] = video.shape as [number, number, number, number];
    const spatial = config.patchSize * 2 ** layout.stages.filter((s) => s.kind === "down" && s.stride[1] === 2).length;
    const temporal = 2 ** layout.stages.filter((s) => s.kind === "down" && s.stride[0] === 2).length;
    if (c * config.patchSize ** 2 !== layout.convIn.inChannels || (f - 1) % temporal || h % spatial || w % spatial) {
      throw new A2VError(
        "vae_input_shape",
        `video [${video.shape}] must be [${layout.convIn.inChannels / config.patchSize ** 2}, 1 + ${temporal}k, H, W] with H, W multiples of ${spatial}`,
        { status: 422 },
      );
    }
    let x = patchifyGpu(this.device, video, config.patchSize, false);
    gpuFree(video);
    await this.emit(trace, "enc_patchified", x);
    let next = this.conv(x, layout.convIn, true);
    gpuFree(x);
    x = next;
    await this.emit(trace, "enc_conv_in", x);
    for (const [i, stage] of layout.stages.entries()) {
      x = this.stage(x, stage, true);
      await this.emit(trace, `enc_down_${i}`, x);
    }
    next = pixelNormSiluGpu(this.device, x, PIXEL_NORM_EPS);
    gpuFree(x);
    x = this.conv(next, layout.convOut, true);
    gpuFree(next);
    await this.emit(trace, "enc_conv_out", x);
    const latent = channelStatsGpu(this.device, x, layout.latentChannels, this.mean.buffer, this.std.buffer, false);
    gpuFree(x);
    return latent;
  }

  private async decodeItem(latent: GpuTensor, trace?: Trace): Promise<GpuTensor> {
    const { layout, config } = this.vae;
    if (latent.shape[0] !== layout.latentChannels) {
      throw new A2VError("vae_input_shape", `latent [${latent.shape}] must have ${layout.latentChannels} channels`, {
        status: 422,
      });
    }
    let x = channelStatsGpu(this.device, latent, layout.latentChannels, this.mean.buffer, this.std.buffer, true);
    gpuFree(latent);
    await this.emit(trace, "dec_unnormalized", x);
    let next = this.conv(x, layout.convIn, layout.causal);
    gpuFree(x);
    x = next;
    await this.emit(trace, "dec_conv_in", x);
    for (const [i, stage] of layout.stages.entries()) {
      x = this.stage(x, stage, layout.causal);
      await this.emit(trace, `dec_up_${i}`, x);
    }
    next = pixelNormSiluGpu(this.device, x, PIXEL_NORM_EPS);
    gpuFree(x);
    x = this.conv(next, layout.convOut, layout.causal);
    gpuFree(next);
    await this.emit(trace, "dec_conv_out", x);
    const video = patchifyGpu(this.device, x, config.patchSize, true);
    gpuFree(x);
    return video;
  }

  /** Frees the weights on the GPU. */
  destroy(): void {
    for (const c of this.convs.values()) gpuFree(c.weight, c.bias);
    gpuFree(this.mean, this.std);
  }
}
