import { join } from "node:path";
import { type Device, releaseGpu, type Tensor } from "@a2v/tensor-webgpu";
import { afterAll, describe, expect, it } from "vitest";
import { audioVaeEncoderConfig } from "../../src/audio-vae/config.js";
import { AudioEncoder } from "../../src/audio-vae/encoder.js";
import { audioEncoderInput } from "../../src/audio-vae/features.js";
import { loadAudioEncoder } from "../../src/audio-vae/load.js";
import { audioTokens } from "../../src/audio-vae/tokens.js";
import { fromHost, toHost } from "../../src/vae/tensors.js";
import { goldenSet, maxAbsErr, openWeights, readConfig, readTensors, tensor } from "../vae/golden.js";

const dir = goldenSet("audio_features_and_vae");

/** The golden's tiny encoder, as a checkpoint's `config.audio_vae` would carry it. */
export function goldenAudioVaeMetadata(config: Record<string, unknown>): Record<string, unknown> {
  const tiny = config.tiny_encoder as { ddconfig: unknown; preprocessing: unknown };
  return { model: { params: { ddconfig: tiny.ddconfig } }, preprocessing: tiny.preprocessing };
}

// One encoder code on both devices: the CPU device (f64, the reference) and the GPU.
describe.skipIf(!dir)("audio VAE encoder vs golden audio_features_and_vae", () => {
  afterAll(() => releaseGpu());
  for (const device of ["cpu", "gpu"] as Device[]) {
    it(`encodes the golden mel (every intermediate), and the golden waveform via @a2v/audio, to the golden latent, tokens and positions on the ${device} device`, async () => {
      const config = audioVaeEncoderConfig(goldenAudioVaeMetadata(readConfig(dir!)), "config.json");
      const tensors = await readTensors(join(dir!, "tensors.safetensors"));
      const file = join(dir!, "audio_encoder.safetensors");
      const source = await openWeights(file);
      const encoder = await AudioEncoder.create(await loadAudioEncoder(source, config, file), { device });
      await source.close();
      const errors: Record<string, number> = {};
      const encode = async (mel: { shape: number[]; data: Float32Array }, traced = false) => {
        const kept: Array<[string, Tensor]> = [];
        const x = fromHost(mel, device);
        const latent = encoder.encode(
          x,
          traced ? (name, value) => kept.push([name, value.view(value.shape, value.strides, value.offset)]) : undefined,
        );
        x.dispose();
        expect(latent.device).toBe(device);
        for (const [name, value] of kept) {
          if (tensors.has(name)) errors[name] = maxAbsErr(await toHost(value), tensor(tensors, name));
          value.dispose();
        }
        const host = await toHost(latent);
        latent.dispose();
        return host;
      };
      const latent = await encode(tensor(tensors, "mel"), true);
      errors.latent = maxAbsErr(latent, tensor(tensors, "latent"));
      const { tokens, positions } = audioTokens(latent, config);
      errors.tokens = maxAbsErr(tokens, tensor(tensors, "tokens"));
      console.log(
        `audio encoder (${device}): worst max abs error ${Math.max(...Object.values(errors)).toExponential(2)}`,
      );
      for (const [name, err] of Object.entries(errors)) expect(err, name).toBeLessThanOrEqual(1e-4);
      expect(Object.keys(errors)).toHaveLength(11);
      expect(Array.from(positions.data)).toEqual(Array.from(tensor(tensors, "positions").data));
      // End to end from the 48 kHz waveform through @a2v/audio's log-mel (README: latent <= 1e-3).
      const wave = tensor(tensors, "waveform");
      const n = wave.shape[2]!;
      const mel = audioEncoderInput([wave.data.subarray(0, n), wave.data.subarray(n)], 48000);
      expect(mel.shape).toEqual(tensor(tensors, "mel").shape);
      expect(maxAbsErr(await encode(mel), tensor(tensors, "latent"))).toBeLessThanOrEqual(1e-3);
      encoder.dispose();
    });
  }
});
