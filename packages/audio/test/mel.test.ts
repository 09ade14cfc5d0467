import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import {
  fftWindow,
  LTX_MEL_CONFIG,
  linearMelSpectrogram,
  ltxAudioFeatures,
  melFilterbank,
  melFrameCount,
  melSpectrogram,
  resample,
  toLtxStereo,
} from "../src/index.js";
import { sine } from "./helpers/media.js";
import { readSafetensors, type Tensor } from "./helpers/safetensors.js";

/** The golden set lives beside the repository: /work/main -> ../shared/golden. */
const GOLDEN = fileURLToPath(new URL("../../../../shared/golden/audio_features_and_vae/", import.meta.url));
const HAS_GOLDEN = existsSync(`${GOLDEN}tensors.safetensors`);
if (!HAS_GOLDEN) {
  console.warn(`[audio] golden parity skipped: ${GOLDEN} is absent (it sits beside the repo as ../shared/golden).`);
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i]! - b[i]!));
  return max;
}

/** [1, C, N] golden waveform -> planar channels. */
function planar(tensor: Tensor): Float32Array[] {
  const [, channels, n] = tensor.shape as [number, number, number];
  return Array.from({ length: channels }, (_, c) => tensor.data.subarray(c * n, (c + 1) * n));
}

describe.skipIf(!HAS_GOLDEN)("LTX mel features: parity with the official preprocessing (golden set)", () => {
  const tensors = HAS_GOLDEN ? readSafetensors(`${GOLDEN}tensors.safetensors`) : new Map<string, Tensor>();
  const get = (name: string) => {
    const t = tensors.get(name);
    if (!t) throw new Error(`golden tensor ${name} missing`);
    return t;
  };
  const inputRate = 48_000;

  it("channel handling, 48 kHz -> 16 kHz resampling (<= 1e-5)", () => {
    const stereo = toLtxStereo(planar(get("waveform")));
    expect(
      maxAbsDiff(
        stereo.flatMap((c) => [...c]),
        get("waveform_stereo").data,
      ),
    ).toBe(0);
    const at16k = resample(stereo, inputRate, 16_000);
    const golden = planar(get("waveform_16k"));
    for (let c = 0; c < 2; c++) expect(maxAbsDiff(at16k[c]!, golden[c]!)).toBeLessThanOrEqual(1e-5);
  });

  it("window and Slaney filterbank", () => {
    // torch builds the window in float32: ~2e-7 apart from the float64 one.
    expect(maxAbsDiff(fftWindow(LTX_MEL_CONFIG), get("stft_window").data)).toBeLessThan(1e-6);
    expect(get("mel_filterbank").shape).toEqual([513, 64]);
    expect(maxAbsDiff(melFilterbank(LTX_MEL_CONFIG), get("mel_filterbank").data)).toBeLessThan(1e-6);
  });

  it("magnitude mel (<= 1e-5 abs) and log-mel (<= 1e-3 where the mel is above 1e-4)", () => {
    const golden16k = planar(get("waveform_16k"));
    const linear = linearMelSpectrogram(golden16k);
    const goldenLinear = get("mel_linear"); // [1, 2, 64, T]
    const [, channels, mels, frames] = goldenLinear.shape as [number, number, number, number];
    expect([linear.channels, linear.nMels, linear.frames]).toEqual([channels, mels, frames]);
    expect(melFrameCount(golden16k[0]!.length, 160)).toBe(frames);
    let linearError = 0;
    for (let c = 0; c < channels; c++) {
      for (let m = 0; m < mels; m++) {
        for (let t = 0; t < frames; t++) {
          const ours = linear.data[(c * frames + t) * mels + m]!;
          linearError = Math.max(linearError, Math.abs(ours - goldenLinear.data[(c * mels + m) * frames + t]!));
        }
      }
    }
    expect(linearError).toBeLessThanOrEqual(1e-5);

    // End to end from the 48 kHz waveform, as the trainer does it.
    const features = ltxAudioFeatures(planar(get("waveform")), inputRate);
    const goldenMel = get("mel"); // [1, 2, T, 64]
    expect([1, features.channels, features.frames, features.nMels]).toEqual(goldenMel.shape);
    let logError = 0;
    let silentFrames = 0;
    for (let i = 0; i < goldenMel.data.length; i++) {
      const c = Math.floor(i / (frames * mels));
      const t = Math.floor(i / mels) % frames;
      const m = i % mels;
      const energy = goldenLinear.data[(c * mels + m) * frames + t]!;
      if (energy > 1e-4) logError = Math.max(logError, Math.abs(features.data[i]! - goldenMel.data[i]!));
      if (goldenMel.data[i] === Math.fround(Math.log(1e-5))) {
        silentFrames++;
        expect(features.data[i]).toBeCloseTo(Math.log(1e-5), 5);
      }
    }
    expect(logError).toBeLessThanOrEqual(1e-3);
    expect(silentFrames).toBeGreaterThan(0); // the golden input has exact silence at 0.60-0.75 s
  });
});

describe("mel spectrogram (self-contained checks)", () => {
  it("puts a pure tone's energy in the mel band containing its frequency", () => {
    const { data, frames, nMels } = melSpectrogram([sine(1000, 1, 16_000)], 16_000);
    expect(frames).toBe(101);
    const row = data.subarray(50 * nMels, 51 * nMels);
    const peakBin = row.indexOf(Math.max(...row));
    // Slaney scale: linear below 1 kHz at 200/3 Hz per mel; 64 bins over 0..8 kHz.
    const fb = melFilterbank(LTX_MEL_CONFIG);
    const binOf1k = 64; // 1000 Hz is FFT bin 64 at 16 kHz / 1024
    const expected = fb.subarray(binOf1k * nMels, (binOf1k + 1) * nMels);
    expect(peakBin).toBe(expected.indexOf(Math.max(...expected)));
  });

  it("resamples other rates to 16 kHz, duplicates mono and down-mixes surround like the trainer", () => {
    const mono = sine(440, 0.5, 44_100);
    const features = ltxAudioFeatures([mono], 44_100);
    expect(features.channels).toBe(2);
    expect(features.frames).toBe(melFrameCount(Math.ceil((mono.length * 160) / 441), 160));
    const half = features.frames * features.nMels;
    expect(features.data.subarray(0, half)).toEqual(features.data.subarray(half));

    const surround = Array.from({ length: 6 }, (_, c) => Float32Array.from({ length: 4 }, () => c + 1));
    const [left, right] = toLtxStereo(surround);
    // biome-ignore lint/suspicious/noApproximativeNumericConstant: the upstream literal, not √½.
    const g = 0.707;
    expect(left![0]).toBeCloseTo((1 + g * 3 + g * 5) / 2.414, 6);
    expect(right![0]).toBeCloseTo((2 + g * 3 + g * 6) / 2.414, 6);
    const quad = toLtxStereo(Array.from({ length: 4 }, (_, c) => Float32Array.of(c)));
    expect([quad[0]![0], quad[1]![0]]).toEqual([1.5, 1.5]);
  });

  it("supports the HTK scale without norm (triangles of height 1 that add up to 1) and power 2", () => {
    const config = { ...LTX_MEL_CONFIG, melScale: "htk" as const, norm: null, power: 2 as const, nMels: 40 };
    const fb = melFilterbank(config);
    const bins = config.nFft / 2 + 1;
    const column = (j: number) => Array.from({ length: bins }, (_, k) => fb[k * config.nMels + j]!);
    for (const j of [5, 20, 39]) expect(Math.max(...column(j))).toBeGreaterThan(0.9);
    // Between the first and the last centre, neighbouring triangles overlap to exactly 1.
    const firstCentre = 700 * (10 ** ((2595 * Math.log10(1 + 8000 / 700)) / 41 / 2595) - 1);
    for (let k = Math.ceil((firstCentre / 8000) * (bins - 1)) + 1; k < bins - 40; k++) {
      let sum = 0;
      for (let j = 0; j < config.nMels; j++) sum += fb[k * config.nMels + j]!;
      expect(sum).toBeCloseTo(1, 5);
    }
    const tone = sine(1000, 0.2, 16_000, 0.25);
    const louder = tone.map((v) => 2 * v);
    const quiet = linearMelSpectrogram([tone], config).data;
    const loud = linearMelSpectrogram([louder], config).data;
    for (let i = 0; i < quiet.length; i++) {
      expect(Math.abs(loud[i]! - 4 * quiet[i]!)).toBeLessThanOrEqual(1e-5 * (1 + 4 * quiet[i]!));
    }
  });

  it("floors silence at ln(1e-5) and copes with inputs shorter than the FFT", () => {
    const { data, frames } = melSpectrogram([new Float32Array(100)], 16_000);
    expect(frames).toBe(1);
    expect(data.every((v) => Math.abs(v - Math.log(1e-5)) < 1e-6)).toBe(true);
    const short = melSpectrogram([sine(300, 0.01, 16_000)], 16_000);
    expect(short.data.every(Number.isFinite)).toBe(true);
  });
});
