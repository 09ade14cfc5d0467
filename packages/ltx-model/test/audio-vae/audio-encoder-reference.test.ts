import { join } from "node:path";
import { releaseGpu } from "@a2v/tensor-webgpu";
import { afterAll, describe, expect, it } from "vitest";
import { audioVaeEncoderConfig } from "../../src/audio-vae/config.js";
import { audioEncoderInput } from "../../src/audio-vae/features.js";
import { GpuAudioEncoder } from "../../src/audio-vae/gpu.js";
import { loadAudioEncoder } from "../../src/audio-vae/load.js";
import { encodeAudioReference } from "../../src/audio-vae/reference/audio-encoder.js";
import { audioTokens } from "../../src/audio-vae/tokens.js";
import { toGpu, toHost } from "../../src/vae/gpu-tensors.js";
import type { HostTensor } from "../../src/vae/reference/tensor.js";
import { goldenSet, maxAbsErr, openWeights, readConfig, readTensors, tensor } from "../vae/golden.js";

const dir = goldenSet("audio_features_and_vae");

/** The golden's tiny encoder, as a checkpoint's `config.audio_vae` would carry it. */
export function goldenAudioVaeMetadata(config: Record<string, unknown>): Record<string, unknown> {
  const tiny = config.tiny_encoder as { ddconfig: unknown; preprocessing: unknown };
  return { model: { params: { ddconfig: tiny.ddconfig } }, preprocessing: tiny.preprocessing };
}

describe.skipIf(!dir)("audio VAE encoder CPU reference vs golden audio_features_and_vae", () => {
  it("encodes the golden mel to the golden latent, tokens and positions", async () => {
    const config = audioVaeEncoderConfig(goldenAudioVaeMetadata(readConfig(dir!)), "config.json");
    const tensors = await readTensors(join(dir!, "tensors.safetensors"));
    const file = join(dir!, "audio_encoder.safetensors");
    const source = await openWeights(file);
    const encoder = await loadAudioEncoder(source, config, file);
    await source.close();
    const errors: Record<string, number> = {};
    const trace = (name: string, value: HostTensor) => {
      if (tensors.has(name)) errors[name] = maxAbsErr(value, tensor(tensors, name));
    };
    const latent = encodeAudioReference(tensor(tensors, "mel"), encoder.layout, encoder.weights, trace);
    errors.latent = maxAbsErr(latent, tensor(tensors, "latent"));
    const { tokens, positions } = audioTokens(latent, config);
    errors.tokens = maxAbsErr(tokens, tensor(tensors, "tokens"));
    for (const [name, err] of Object.entries(errors)) expect(err, name).toBeLessThanOrEqual(1e-4);
    expect(Object.keys(errors)).toHaveLength(11);
    expect(Array.from(positions.data)).toEqual(Array.from(tensor(tensors, "positions").data));
  });
});

describe.skipIf(!dir)("audio VAE encoder on the GPU vs golden audio_features_and_vae", () => {
  afterAll(() => releaseGpu());
  it("encodes the golden mel, and the golden waveform via @a2v/audio, to the golden latent", async () => {
    const config = audioVaeEncoderConfig(goldenAudioVaeMetadata(readConfig(dir!)), "config.json");
    const tensors = await readTensors(join(dir!, "tensors.safetensors"));
    const file = join(dir!, "audio_encoder.safetensors");
    const source = await openWeights(file);
    const encoder = await GpuAudioEncoder.create(await loadAudioEncoder(source, config, file));
    await source.close();
    const encode = async (mel: HostTensor) => {
      const x = toGpu(mel);
      const latent = encoder.encode(x);
      x.dispose();
      return toHost(latent);
    };
    expect(maxAbsErr(await encode(tensor(tensors, "mel")), tensor(tensors, "latent"))).toBeLessThanOrEqual(1e-4);
    // End to end from the 48 kHz waveform through @a2v/audio's log-mel (README: latent <= 1e-3).
    const wave = tensor(tensors, "waveform");
    const n = wave.shape[2]!;
    const mel = audioEncoderInput([wave.data.subarray(0, n), wave.data.subarray(n)], 48000);
    expect(mel.shape).toEqual(tensor(tensors, "mel").shape);
    expect(maxAbsErr(await encode(mel), tensor(tensors, "latent"))).toBeLessThanOrEqual(1e-3);
    encoder.dispose();
  });
});
