import { A2VError } from "@a2v/errors";

/** One entry of `encoder_blocks` / `decoder_blocks` in the checkpoint's `config.vae`. */
export interface VaeBlockSpec {
  name: string;
  numLayers: number;
  multiplier: number;
  residual: boolean;
}

export type LatentLogVar = "uniform" | "per_channel" | "constant" | "none";

/** The conv video VAE ("CausalVideoAutoencoder") as its checkpoint metadata `config.vae` describes it. */
export interface VideoVaeConfig {
  inChannels: number;
  outChannels: number;
  latentChannels: number;
  patchSize: number;
  encoderBlocks: VaeBlockSpec[];
  decoderBlocks: VaeBlockSpec[];
  decoderBaseChannels: number;
  latentLogVar: LatentLogVar;
  causalDecoder: boolean;
}

const ENCODER_BLOCKS = new Set(["res_x", "compress_space_res", "compress_time_res", "compress_all_res"]);
const DECODER_BLOCKS = new Set(["res_x", "compress_space", "compress_time", "compress_all"]);

function unsupported(file: string, message: string): A2VError {
  return new A2VError("vae_config_unsupported", `${file}: ${message}`, {
    status: 422,
    details: [{ code: "vae_config_unsupported", message, file }],
  });
}

function parseBlocks(raw: unknown, allowed: Set<string>, defaultMultiplier: number, file: string, what: string) {
  if (!Array.isArray(raw) || raw.length === 0) throw unsupported(file, `config.vae.${what} is missing or empty`);
  return raw.map((entry, i): VaeBlockSpec => {
    const [name, params] = Array.isArray(entry) ? entry : [];
    if (typeof name !== "string" || !allowed.has(name)) {
      throw unsupported(
        file,
        `config.vae.${what}[${i}] is block "${String(name)}"; supported: ${[...allowed].join(", ")}`,
      );
    }
    // Upstream accepts a bare int as num_layers.
    const p = (typeof params === "number" ? { num_layers: params } : (params ?? {})) as Record<string, unknown>;
    if (p.inject_noise === true)
      throw unsupported(file, `config.vae.${what}[${i}] uses inject_noise (LTX-2.0 decoder)`);
    return {
      name,
      numLayers: Number(p.num_layers ?? 1),
      multiplier: Number(p.multiplier ?? defaultMultiplier),
      residual: p.residual === true,
    };
  });
}

/**
 * Reads the `config.vae` dictionary with upstream's defaults (ltx-core `model_configurator.py`), and
 * rejects what this implementation does not run (group norm, reflect padding, timestep-conditioned
 * decoders) with an error that names the file and the field.
 */
export function videoVaeConfig(vae: Record<string, unknown>, file = "checkpoint"): VideoVaeConfig {
  const className = vae._class_name ?? "CausalVideoAutoencoder";
  if (className !== "CausalVideoAutoencoder") {
    throw unsupported(
      file,
      `config.vae._class_name is ${String(className)}; only the conv CausalVideoAutoencoder is supported`,
    );
  }
  if ((vae.dims ?? 3) !== 3) throw unsupported(file, `config.vae.dims is ${String(vae.dims)}; only 3-D convolutions`);
  if ((vae.norm_layer ?? "pixel_norm") !== "pixel_norm") {
    throw unsupported(file, `config.vae.norm_layer is ${String(vae.norm_layer)}; only pixel_norm`);
  }
  // The decoder's upstream default is reflect padding and timestep conditioning (LTX-2.0); 2.3 sets both off.
  const padding = vae.spatial_padding_mode ?? "reflect";
  const encoderPadding = vae.spatial_padding_mode ?? vae.encoder_spatial_padding_mode ?? "zeros";
  if (padding !== "zeros" || encoderPadding !== "zeros") {
    throw unsupported(file, `config.vae.spatial_padding_mode is ${String(padding)}; only zeros`);
  }
  if ((vae.timestep_conditioning ?? true) !== false) {
    throw unsupported(file, "config.vae.timestep_conditioning is not false; the LTX-2.3 decoder has no timestep input");
  }
  const latentLogVar = String(vae.latent_log_var ?? "uniform") as LatentLogVar;
  if (!["uniform", "per_channel", "constant", "none"].includes(latentLogVar)) {
    throw unsupported(file, `config.vae.latent_log_var is ${latentLogVar}`);
  }
  return {
    inChannels: Number(vae.in_channels ?? 3),
    outChannels: Number(vae.out_channels ?? 3),
    latentChannels: Number(vae.latent_channels ?? 128),
    patchSize: Number(vae.patch_size ?? 4),
    encoderBlocks: parseBlocks(vae.encoder_blocks, ENCODER_BLOCKS, 2, file, "encoder_blocks"),
    decoderBlocks: parseBlocks(vae.decoder_blocks, DECODER_BLOCKS, 1, file, "decoder_blocks"),
    decoderBaseChannels: Number(vae.decoder_base_channels ?? 128),
    latentLogVar,
    causalDecoder: vae.causal_decoder === true,
  };
}

/** Parses `config` (a JSON string) from safetensors `__metadata__` and reads its `vae` section. */
export function videoVaeConfigFromMetadata(metadata: Readonly<Record<string, string>>, file: string): VideoVaeConfig {
  const vae = metadataSection(metadata, "vae", file);
  return videoVaeConfig(vae, file);
}

export function metadataSection(
  metadata: Readonly<Record<string, string>>,
  section: string,
  file: string,
): Record<string, unknown> {
  const raw = metadata.config;
  if (raw === undefined) throw unsupported(file, "safetensors metadata has no `config` entry");
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch (cause) {
    throw new A2VError("vae_config_unsupported", `${file}: metadata config is not JSON`, { status: 422, cause });
  }
  const value = (parsed as Record<string, unknown>)[section];
  if (value === null || typeof value !== "object")
    throw unsupported(file, `metadata config has no \`${section}\` section`);
  return value as Record<string, unknown>;
}

/** Stride (time, height, width) of a compress block. */
export function blockStride(name: string): [number, number, number] {
  if (name.startsWith("compress_time")) return [2, 1, 1];
  if (name.startsWith("compress_space")) return [1, 2, 2];
  if (name.startsWith("compress_all")) return [2, 2, 2];
  return [1, 1, 1];
}

/** Total (time, height, width) compression of the encoder: patch size times every block stride. */
export function videoScaleFactors(config: VideoVaeConfig): { time: number; height: number; width: number } {
  let [t, h, w] = [1, config.patchSize, config.patchSize];
  for (const block of config.encoderBlocks) {
    const [st, sh, sw] = blockStride(block.name);
    t *= st;
    h *= sh;
    w *= sw;
  }
  return { time: t, height: h, width: w };
}

/** `config.vae` of the released LTX-2.3 checkpoint (ltx2.md / golden README). */
export const LTX23_VAE: Record<string, unknown> = {
  _class_name: "CausalVideoAutoencoder",
  dims: 3,
  in_channels: 3,
  out_channels: 3,
  latent_channels: 128,
  decoder_base_channels: 128,
  patch_size: 4,
  norm_layer: "pixel_norm",
  latent_log_var: "uniform",
  causal_decoder: false,
  timestep_conditioning: false,
  spatial_padding_mode: "zeros",
  encoder_blocks: [
    ["res_x", { num_layers: 4 }],
    ["compress_space_res", { multiplier: 2 }],
    ["res_x", { num_layers: 6 }],
    ["compress_time_res", { multiplier: 2 }],
    ["res_x", { num_layers: 4 }],
    ["compress_all_res", { multiplier: 2 }],
    ["res_x", { num_layers: 2 }],
    ["compress_all_res", { multiplier: 1 }],
    ["res_x", { num_layers: 2 }],
  ],
  decoder_blocks: [
    ["res_x", { num_layers: 4 }],
    ["compress_space", { multiplier: 2 }],
    ["res_x", { num_layers: 6 }],
    ["compress_time", { multiplier: 2 }],
    ["res_x", { num_layers: 4 }],
    ["compress_all", { multiplier: 1 }],
    ["res_x", { num_layers: 2 }],
    ["compress_all", { multiplier: 2 }],
    ["res_x", { num_layers: 2 }],
  ],
};
