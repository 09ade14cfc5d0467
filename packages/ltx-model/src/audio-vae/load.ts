import { type ComponentWeights, loadComponentWeights } from "../vae/component-weights.js";
import type { WeightSource } from "../weights/checkpoint.js";
import type { AudioVaeEncoderConfig } from "./config.js";
import {
  AUDIO_ENCODER_KEY_LAYOUTS,
  type AudioEncoderLayout,
  audioEncoderLayout,
  audioEncoderParameters,
} from "./layout.js";

export interface LoadedAudioEncoder {
  config: AudioVaeEncoderConfig;
  layout: AudioEncoderLayout;
  weights: ComponentWeights;
}

/** Loads the audio VAE encoder (module keys or released `audio_vae.*` keys); `file` names the checkpoint in errors. */
export async function loadAudioEncoder(
  source: WeightSource,
  config: AudioVaeEncoderConfig,
  file: string,
): Promise<LoadedAudioEncoder> {
  const layout = audioEncoderLayout(config);
  const weights = await loadComponentWeights(
    source,
    file,
    "audio VAE encoder",
    audioEncoderParameters(layout),
    AUDIO_ENCODER_KEY_LAYOUTS,
  );
  return { config, layout, weights };
}
