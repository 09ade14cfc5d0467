import { A2VError } from "@a2v/errors";
import { metadataSection } from "../vae/config.js";

/** The audio VAE encoder as its checkpoint metadata `config.audio_vae` describes it. */
export interface AudioVaeEncoderConfig {
  ch: number;
  chMult: number[];
  numResBlocks: number;
  inChannels: number;
  zChannels: number;
  doubleZ: boolean;
  melBins: number;
  sampleRate: number;
  hopLength: number;
  nFft: number;
  /** Causal STFT timing: decides the patchifier's token time bounds. */
  isCausal: boolean;
}

function unsupported(file: string, message: string): A2VError {
  return new A2VError("audio_vae_config_unsupported", `${file}: ${message}`, {
    status: 422,
    details: [{ code: "audio_vae_config_unsupported", message, file }],
  });
}

/**
 * Reads `config.audio_vae` with upstream's defaults (ltx-core `AudioEncoderConfigurator`), rejecting
 * what this implementation does not run (attention blocks, group norm, non-time causality).
 */
export function audioVaeEncoderConfig(audioVae: Record<string, unknown>, file = "checkpoint"): AudioVaeEncoderConfig {
  const get = (o: unknown, k: string) => ((o ?? {}) as Record<string, unknown>)[k];
  const params = get(get(audioVae, "model"), "params");
  const dd = (get(params, "ddconfig") ?? {}) as Record<string, unknown>;
  const stft = get(get(audioVae, "preprocessing"), "stft");
  const mel = get(get(audioVae, "preprocessing"), "mel");
  // Upstream's default attn_resolutions {8,16,32} never meets the 256/128/64 resolutions of 3 levels.
  const attn = (dd.attn_resolutions as number[] | undefined) ?? [8, 16, 32];
  const chMult = (dd.ch_mult as number[] | undefined) ?? [1, 2, 4];
  const resolution = Number(dd.resolution ?? 256);
  const levelResolutions = chMult.map((_, i) => resolution / 2 ** i);
  if (levelResolutions.some((r) => attn.includes(r)))
    throw unsupported(file, "audio VAE attention blocks are not supported");
  if ((dd.mid_block_add_attention ?? true) !== false) {
    throw unsupported(file, "config.audio_vae ddconfig.mid_block_add_attention must be false");
  }
  if ((dd.norm_type ?? "pixel") !== "pixel") throw unsupported(file, `norm_type ${String(dd.norm_type)}; only pixel`);
  if ((dd.causality_axis ?? "height") !== "height") {
    throw unsupported(file, `causality_axis ${String(dd.causality_axis)}; only height (time)`);
  }
  if ((dd.resamp_with_conv ?? true) !== true) throw unsupported(file, "resamp_with_conv must be true");
  const melBins = Number(dd.mel_bins ?? get(mel, "n_mel_channels") ?? get(get(audioVae, "variables"), "mel_bins"));
  if (!Number.isInteger(melBins) || melBins <= 0) throw unsupported(file, "mel_bins is missing");
  return {
    ch: Number(dd.ch ?? 128),
    chMult,
    numResBlocks: Number(dd.num_res_blocks ?? 2),
    inChannels: Number(dd.in_channels ?? 2),
    zChannels: Number(dd.z_channels ?? 8),
    doubleZ: dd.double_z !== false,
    melBins,
    sampleRate: Number(get(params, "sampling_rate") ?? 16000),
    hopLength: Number(get(stft, "hop_length") ?? 160),
    nFft: Number(get(stft, "filter_length") ?? 1024),
    isCausal: get(stft, "causal") !== false,
  };
}

export function audioVaeEncoderConfigFromMetadata(
  metadata: Readonly<Record<string, string>>,
  file: string,
): AudioVaeEncoderConfig {
  return audioVaeEncoderConfig(metadataSection(metadata, "audio_vae", file), file);
}

/** Time (and mel) downsampling of the encoder: one stride-2 conv per level but the last. */
export function audioLatentDownsample(config: AudioVaeEncoderConfig): number {
  return 2 ** (config.chMult.length - 1);
}
