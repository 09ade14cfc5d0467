import { A2VError } from "@a2v/errors";
import { type KeyLayout, type ParamSpec, prefixLayout } from "./component-weights.js";
import { blockStride, type VideoVaeConfig } from "./config.js";

/** A k=3 conv3d: parameters `${key}.weight` [out, in, 3, 3, 3] and `${key}.bias` [out]. */
export interface ConvSpec {
  key: string;
  inChannels: number;
  outChannels: number;
}

export type VaeStage =
  /** UNetMidBlock3D: `x + conv2(silu(pn(conv1(silu(pn(x))))))` per layer. */
  | { kind: "res"; channels: number; layers: { conv1: ConvSpec; conv2: ConvSpec }[] }
  /** SpaceToDepthDownsample: space_to_depth(conv(x)) + group-mean(space_to_depth(x)). */
  | { kind: "down"; stride: [number, number, number]; conv: ConvSpec; outChannels: number; groupSize: number }
  /** DepthToSpaceUpsample: depth_to_space(conv(x)) (+ repeated depth_to_space(x) when residual). */
  | {
      kind: "up";
      stride: [number, number, number];
      conv: ConvSpec;
      outChannels: number;
      residual: boolean;
      /** How often the residual branch's depth_to_space(x) channels are tiled. */
      residualRepeat: number;
    };

export interface VaeLayout {
  convIn: ConvSpec;
  stages: VaeStage[];
  convOut: ConvSpec;
  latentChannels: number;
  /** Causal time padding (encoder always; decoder when `causal_decoder`). */
  causal: boolean;
}

const conv = (key: string, inChannels: number, outChannels: number): ConvSpec => ({ key, inChannels, outChannels });

function resStage(prefix: string, channels: number, layers: number): VaeStage {
  return {
    kind: "res",
    channels,
    layers: Array.from({ length: layers }, (_, j) => ({
      conv1: conv(`${prefix}.res_blocks.${j}.conv1.conv`, channels, channels),
      conv2: conv(`${prefix}.res_blocks.${j}.conv2.conv`, channels, channels),
    })),
  };
}

function logVarChannels(config: VideoVaeConfig): number {
  const c = config.latentChannels;
  return { uniform: c + 1, constant: c + 1, per_channel: 2 * c, none: c }[config.latentLogVar];
}

function checkDivisible(value: number, by: number, what: string): void {
  if (!Number.isInteger(value / by)) {
    throw new A2VError("vae_config_unsupported", `${what}: ${value} channels do not divide by ${by}`, { status: 422 });
  }
}

/** The encoder as upstream's `VideoEncoder.__init__` builds it from the config. */
export function videoEncoderLayout(config: VideoVaeConfig): VaeLayout {
  const p2 = config.patchSize * config.patchSize;
  let channels = config.latentChannels;
  const stages = config.encoderBlocks.map((block, i): VaeStage => {
    const prefix = `down_blocks.${i}`;
    if (block.name === "res_x") return resStage(prefix, channels, block.numLayers);
    const stride = blockStride(block.name);
    const prod = stride[0] * stride[1] * stride[2];
    const outChannels = channels * block.multiplier;
    checkDivisible(outChannels, prod, `encoder block ${i} (${block.name})`);
    const stage: VaeStage = {
      kind: "down",
      stride,
      conv: conv(`${prefix}.conv.conv`, channels, outChannels / prod),
      outChannels,
      groupSize: (channels * prod) / outChannels,
    };
    channels = outChannels;
    return stage;
  });
  return {
    convIn: conv("conv_in.conv", config.inChannels * p2, config.latentChannels),
    stages,
    convOut: conv("conv_out.conv", channels, logVarChannels(config)),
    latentChannels: config.latentChannels,
    causal: true,
  };
}

/** The decoder as upstream's `ConvVideoDecoder.__init__` builds it: blocks in reversed order. */
export function videoDecoderLayout(config: VideoVaeConfig): VaeLayout {
  const p2 = config.patchSize * config.patchSize;
  let channels = config.decoderBaseChannels;
  for (const block of config.decoderBlocks) if (block.name !== "res_x") channels *= block.multiplier;
  const bottleneck = channels;
  const stages = [...config.decoderBlocks].reverse().map((block, i): VaeStage => {
    const prefix = `up_blocks.${i}`;
    if (block.name === "res_x") return resStage(prefix, channels, block.numLayers);
    const stride = blockStride(block.name);
    const prod = stride[0] * stride[1] * stride[2];
    checkDivisible(prod * channels, block.multiplier, `decoder block ${i} (${block.name})`);
    const stage: VaeStage = {
      kind: "up",
      stride,
      conv: conv(`${prefix}.conv.conv`, channels, (prod * channels) / block.multiplier),
      outChannels: channels / block.multiplier,
      residual: block.residual,
      residualRepeat: prod / block.multiplier,
    };
    channels = channels / block.multiplier;
    return stage;
  });
  return {
    convIn: conv("conv_in.conv", config.latentChannels, bottleneck),
    stages,
    convOut: conv("conv_out.conv", channels, config.outChannels * p2),
    latentChannels: config.latentChannels,
    causal: config.causalDecoder,
  };
}

export function layoutConvs(layout: VaeLayout): ConvSpec[] {
  const convs = [layout.convIn];
  for (const stage of layout.stages) {
    if (stage.kind === "res") for (const l of stage.layers) convs.push(l.conv1, l.conv2);
    else convs.push(stage.conv);
  }
  convs.push(layout.convOut);
  return convs;
}

export const STD_OF_MEANS = "per_channel_statistics.std-of-means";
export const MEAN_OF_MEANS = "per_channel_statistics.mean-of-means";

/** Every parameter of an encoder or decoder layout, under upstream module keys. */
export function layoutParameters(layout: VaeLayout): ParamSpec[] {
  const params: ParamSpec[] = [];
  for (const c of layoutConvs(layout)) {
    params.push({ key: `${c.key}.weight`, shape: [c.outChannels, c.inChannels, 3, 3, 3] });
    params.push({ key: `${c.key}.bias`, shape: [c.outChannels] });
  }
  params.push({ key: STD_OF_MEANS, shape: [layout.latentChannels] });
  params.push({ key: MEAN_OF_MEANS, shape: [layout.latentChannels] });
  return params;
}

/**
 * Key layouts a checkpoint may use for the VAE: the module's own state dict, or the released
 * unified checkpoint (`vae.encoder.*` / `vae.decoder.*` with shared `vae.per_channel_statistics.*`).
 */
export function videoVaeKeyLayouts(part: "encoder" | "decoder"): KeyLayout[] {
  return [
    (key) => key,
    prefixLayout([
      ["per_channel_statistics.", "vae.per_channel_statistics."],
      ["", `vae.${part}.`],
    ]),
  ];
}
