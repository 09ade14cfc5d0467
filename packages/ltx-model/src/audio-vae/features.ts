import { ltxAudioFeatures } from "@a2v/audio";
import { type HostTensor, hostTensor } from "@a2v/tensor-webgpu";

/**
 * The encoder input for planar PCM at any rate and channel count (`@a2v/audio`'s LTX handling:
 * stereo, 16 kHz, log-mel): [1, 2, T, 64], T = 1 + floor(n16k / 160).
 */
export function audioEncoderInput(pcm: readonly Float32Array[], sampleRate: number): HostTensor {
  const mel = ltxAudioFeatures(pcm, sampleRate);
  return hostTensor([1, mel.channels, mel.frames, mel.nMels], mel.data);
}
