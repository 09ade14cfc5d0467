import { type HostTensor, hostTensor } from "@a2v/tensor-webgpu";
import { type AudioTiming, audioPositions, patchifyAudio } from "../positions.js";
import { type AudioVaeEncoderConfig, audioLatentDownsample } from "./config.js";

/** The timing the encoder's latents have: what the transformer's audio positions assume. */
export function audioTimingFor(config: AudioVaeEncoderConfig): AudioTiming {
  return {
    sampleRate: config.sampleRate,
    hopLength: config.hopLength,
    latentDownsample: audioLatentDownsample(config),
    causal: config.isCausal,
    shift: 0,
  };
}

/**
 * `AudioPatchifier(patch_size=1)`: latents [B, C, T, F] -> tokens [B, T, C·F] and their
 * [start, end) times in seconds [B, 1, T, 2].
 */
export function audioTokens(
  latent: HostTensor,
  config: AudioVaeEncoderConfig,
): { tokens: HostTensor; positions: HostTensor } {
  const [b, c, t, f] = latent.shape as [number, number, number, number];
  const tokens = new Float32Array(latent.data.length);
  const positions = new Float32Array(b * t * 2);
  const times = audioPositions(t, audioTimingFor(config));
  for (let n = 0; n < b; n++) {
    const size = c * t * f;
    tokens.set(patchifyAudio(latent.data.subarray(n * size, (n + 1) * size), c, t, f), n * size);
    positions.set(times, n * t * 2);
  }
  return { tokens: hostTensor([b, t, c * f], tokens), positions: hostTensor([b, 1, t, 2], positions) };
}
