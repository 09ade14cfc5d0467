import { A2VError } from "@a2v/errors";
import { param } from "../vae/component-weights.js";
import { type ConvGeometry, channelStatsGpu, conv3dGpu, type GpuConv, pixelNormSiluGpu } from "../vae/gpu/ops.js";
import { type GpuTensor, gpuDownload, gpuFree, gpuUpload } from "../vae/gpu/runtime.js";
import { type HostTensor, hostTensor } from "../vae/reference/tensor.js";
import type { AudioResBlock, Conv2dSpec } from "./layout.js";
import type { LoadedAudioEncoder } from "./load.js";

const PIXEL_NORM_EPS = 1e-6;

/** Causal in time (k-1 before, 0 after), centred in mel; the downsample pads time 2/0, mel 0/1 with stride 2. */
function geometry(spec: Conv2dSpec, downsample: boolean): ConvGeometry {
  const k = spec.kernel;
  return downsample
    ? { kernel: [1, k, k], stride: [2, 2], padH: [2, 0], padW: [0, 1] }
    : { kernel: [1, k, k], stride: [1, 1], padH: [k - 1, 0], padW: [(k - 1) >> 1, (k - 1) >> 1] };
}

/**
 * The audio VAE encoder with its weights on the GPU, on the video VAE's conv kernel (a [C, T, mel]
 * activation is a depth-1 [C, 1, T, mel] volume). Same contract as `encodeAudioReference`.
 */
export class GpuAudioEncoder {
  private constructor(
    private readonly device: GPUDevice,
    readonly encoder: LoadedAudioEncoder,
    private readonly convs: Map<string, GpuConv>,
    private readonly mean: GpuTensor,
    private readonly std: GpuTensor,
  ) {}

  static create(device: GPUDevice, encoder: LoadedAudioEncoder): GpuAudioEncoder {
    const upload = (key: string) => {
      const t = param(encoder.weights, key);
      return gpuUpload(device, t.data, t.shape);
    };
    const convs = new Map<string, GpuConv>();
    for (const [key, t] of encoder.weights) {
      if (!key.endsWith(".weight")) continue;
      const base = key.slice(0, -".weight".length);
      convs.set(base, {
        weight: upload(key),
        bias: upload(`${base}.bias`),
        inChannels: t.shape[1]!,
        outChannels: t.shape[0]!,
      });
    }
    return new GpuAudioEncoder(
      device,
      encoder,
      convs,
      upload("per_channel_statistics.mean-of-means"),
      upload("per_channel_statistics.std-of-means"),
    );
  }

  private conv(x: GpuTensor, spec: Conv2dSpec, residual?: GpuTensor, downsample = false): GpuTensor {
    return conv3dGpu(this.device, x, this.convs.get(spec.key)!, 0, 0, residual, geometry(spec, downsample));
  }

  /** Consumes x. */
  private resBlock(x: GpuTensor, block: AudioResBlock): GpuTensor {
    const h1 = pixelNormSiluGpu(this.device, x, PIXEL_NORM_EPS);
    const h2 = this.conv(h1, block.conv1);
    gpuFree(h1);
    const h3 = pixelNormSiluGpu(this.device, h2, PIXEL_NORM_EPS);
    gpuFree(h2);
    const skip = block.shortcut ? this.conv(x, block.shortcut) : x;
    const out = this.conv(h3, block.conv2, skip);
    gpuFree(h3, x);
    if (skip !== x) gpuFree(skip);
    return out;
  }

  /** log-mel [B, 2, T, mel] -> normalised latent mean [B, z, T', mel/4]. */
  async run(mel: HostTensor): Promise<HostTensor> {
    const { layout } = this.encoder;
    const [b, c, t, m] = mel.shape as [number, number, number, number];
    if (mel.shape.length !== 4 || c !== layout.convIn.inChannels) {
      throw new A2VError(
        "audio_vae_input_shape",
        `mel [${mel.shape}] must be [B, ${layout.convIn.inChannels}, T, mel]`,
        {
          status: 422,
        },
      );
    }
    const results: Float32Array[] = [];
    let shape: number[] = [];
    for (let n = 0; n < b; n++) {
      const size = c * t * m;
      let x = gpuUpload(this.device, mel.data.subarray(n * size, (n + 1) * size), [c, 1, t, m]);
      const step = (next: GpuTensor) => {
        gpuFree(x);
        x = next;
      };
      step(this.conv(x, layout.convIn));
      for (const level of layout.levels) {
        for (const block of level.blocks) x = this.resBlock(x, block);
        if (level.downsample) step(this.conv(x, level.downsample, undefined, true));
      }
      for (const block of layout.mid) x = this.resBlock(x, block);
      step(pixelNormSiluGpu(this.device, x, PIXEL_NORM_EPS));
      step(this.conv(x, layout.convOut));
      const [, , tl, fl] = x.shape as [number, number, number, number];
      if (layout.zChannels * fl !== layout.statisticsWidth) {
        throw new A2VError(
          "audio_vae_input_shape",
          `mel with ${m} bins gives ${layout.zChannels * fl} latent features; the statistics have ${layout.statisticsWidth}`,
          { status: 422 },
        );
      }
      step(channelStatsGpu(this.device, x, layout.zChannels, this.mean.buffer, this.std.buffer, false, true));
      results.push(await gpuDownload(this.device, x));
      gpuFree(x);
      shape = [layout.zChannels, tl, fl];
    }
    const out = hostTensor([b, ...shape]);
    for (const [n, r] of results.entries()) out.data.set(r, n * r.length);
    return out;
  }

  destroy(): void {
    for (const c of this.convs.values()) gpuFree(c.weight, c.bias);
    gpuFree(this.mean, this.std);
  }
}
