import { type KeyLayout, type ParamSpec, prefixLayout } from "../vae/component-weights.js";
import type { AudioVaeEncoderConfig } from "./config.js";

/** A 2-D conv `${key}.weight` [out, in, k, k] + bias, on [B, C, time, mel]. */
export interface Conv2dSpec {
  key: string;
  inChannels: number;
  outChannels: number;
  kernel: number;
}

export interface AudioResBlock {
  conv1: Conv2dSpec;
  conv2: Conv2dSpec;
  /** 1x1 conv on the skip path when the width changes. */
  shortcut?: Conv2dSpec;
}

export interface AudioEncoderLayout {
  convIn: Conv2dSpec;
  levels: { blocks: AudioResBlock[]; downsample?: Conv2dSpec }[];
  mid: AudioResBlock[];
  convOut: Conv2dSpec;
  zChannels: number;
  /** Width of the per-channel statistics: z_channels × latent mel bins (the token width). */
  statisticsWidth: number;
}

const conv = (key: string, inChannels: number, outChannels: number, kernel = 3): Conv2dSpec => ({
  key,
  inChannels,
  outChannels,
  kernel,
});

function resBlock(prefix: string, inChannels: number, outChannels: number): AudioResBlock {
  return {
    conv1: conv(`${prefix}.conv1.conv`, inChannels, outChannels),
    conv2: conv(`${prefix}.conv2.conv`, outChannels, outChannels),
    ...(inChannels !== outChannels
      ? { shortcut: conv(`${prefix}.nin_shortcut.conv`, inChannels, outChannels, 1) }
      : {}),
  };
}

/** The encoder as upstream's `AudioEncoder.__init__` builds it (`build_downsampling_path`, mid block). */
export function audioEncoderLayout(config: AudioVaeEncoderConfig): AudioEncoderLayout {
  const { ch, chMult } = config;
  let blockIn = ch;
  const levels = chMult.map((mult, i) => {
    const blockOut = ch * mult;
    blockIn = ch * (i === 0 ? 1 : chMult[i - 1]!);
    const blocks = Array.from({ length: config.numResBlocks }, (_, j) => {
      const block = resBlock(`down.${i}.block.${j}`, blockIn, blockOut);
      blockIn = blockOut;
      return block;
    });
    const downsample = i < chMult.length - 1 ? conv(`down.${i}.downsample.conv`, blockIn, blockIn) : undefined;
    return { blocks, ...(downsample ? { downsample } : {}) };
  });
  const latentMelBins = config.melBins / 2 ** (chMult.length - 1);
  return {
    convIn: conv("conv_in.conv", config.inChannels, ch),
    levels,
    mid: [resBlock("mid.block_1", blockIn, blockIn), resBlock("mid.block_2", blockIn, blockIn)],
    convOut: conv("conv_out.conv", blockIn, config.doubleZ ? 2 * config.zChannels : config.zChannels),
    zChannels: config.zChannels,
    statisticsWidth: config.zChannels * latentMelBins,
  };
}

function convs(layout: AudioEncoderLayout): Conv2dSpec[] {
  const out = [layout.convIn];
  const block = (b: AudioResBlock) => out.push(b.conv1, b.conv2, ...(b.shortcut ? [b.shortcut] : []));
  for (const level of layout.levels) {
    level.blocks.forEach(block);
    if (level.downsample) out.push(level.downsample);
  }
  layout.mid.forEach(block);
  out.push(layout.convOut);
  return out;
}

export function audioEncoderParameters(layout: AudioEncoderLayout): ParamSpec[] {
  const params: ParamSpec[] = [];
  for (const c of convs(layout)) {
    params.push({ key: `${c.key}.weight`, shape: [c.outChannels, c.inChannels, c.kernel, c.kernel] });
    params.push({ key: `${c.key}.bias`, shape: [c.outChannels] });
  }
  params.push({ key: "per_channel_statistics.std-of-means", shape: [layout.statisticsWidth] });
  params.push({ key: "per_channel_statistics.mean-of-means", shape: [layout.statisticsWidth] });
  return params;
}

/** Module keys, or the released checkpoint's `audio_vae.encoder.*` / `audio_vae.per_channel_statistics.*`. */
export const AUDIO_ENCODER_KEY_LAYOUTS: KeyLayout[] = [
  (key) => key,
  prefixLayout([
    ["per_channel_statistics.", "audio_vae.per_channel_statistics."],
    ["", "audio_vae.encoder."],
  ]),
];
