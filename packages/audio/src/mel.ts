import { A2VError } from "@a2v/errors";
import { Fft } from "./fft.js";
import { frameCount } from "./pcm.js";
import { resample } from "./resample.js";

/** Parameters of a (log-)mel spectrogram, named as in torchaudio's MelSpectrogram. */
export interface MelConfig {
  /** Rate the spectrogram is computed at; other input rates are resampled to it first. */
  sampleRate: number;
  /** FFT size (power of two). */
  nFft: number;
  /** Periodic-Hann window length (<= nFft; centred in the FFT frame when shorter). */
  winLength: number;
  hopLength: number;
  nMels: number;
  fMin: number;
  fMax: number;
  /** 1: magnitude, 2: power. */
  power: 1 | 2;
  melScale: "slaney" | "htk";
  /** "slaney": divide each triangle by its width in Hz (constant energy per band); null: peak 1. */
  norm: "slaney" | null;
  /** log(max(mel, logFloor)). */
  logFloor: number;
}

/**
 * The LTX-2 / LTX-2.3 audio VAE's input features (`AudioProcessor.waveform_to_mel`, checkpoint
 * `config.audio_vae`): 16 kHz, n_fft 1024, hop 160 (100 frames/s), 64 Slaney mel bins with Slaney
 * area norm over 0-8000 Hz, magnitude, centred STFT with reflect padding, natural log floored at 1e-5.
 */
export const LTX_MEL_CONFIG: Readonly<MelConfig> = Object.freeze({
  sampleRate: 16_000,
  nFft: 1024,
  winLength: 1024,
  hopLength: 160,
  nMels: 64,
  fMin: 0,
  fMax: 8000,
  power: 1,
  melScale: "slaney",
  norm: "slaney",
  logFloor: 1e-5,
});

/** A spectrogram per channel, laid out [channel][frame][mel] in one array (the VAE's [B, C, T, mels] order). */
export interface MelSpectrogram {
  data: Float32Array;
  channels: number;
  frames: number;
  nMels: number;
}

/** Frames of a centred STFT: 1 + floor(samples / hop). */
export function melFrameCount(samples: number, hopLength: number): number {
  return 1 + Math.floor(samples / hopLength);
}

/**
 * Log-mel spectrogram of planar PCM at any integer sample rate: resampled to `config.sampleRate`
 * (torchaudio-compatible windowed sinc, see `resample`), then `log(max(mel, logFloor))`.
 * Channels are processed as given; use `ltxAudioFeatures` for the LTX channel handling.
 */
export function melSpectrogram(
  pcm: readonly Float32Array[],
  sampleRate: number,
  config: Readonly<MelConfig> = LTX_MEL_CONFIG,
): MelSpectrogram {
  const atRate = sampleRate === config.sampleRate ? pcm : resample(pcm, sampleRate, config.sampleRate);
  const spectrogram = linearMelSpectrogram(atRate, config);
  const { data } = spectrogram;
  for (let i = 0; i < data.length; i++) data[i] = Math.log(Math.max(data[i]!, config.logFloor));
  return spectrogram;
}

/** Centre/surround gain of the upstream down-mix, written there as this literal (not exactly √½). */
// biome-ignore lint/suspicious/noApproximativeNumericConstant: parity with the upstream literal 0.707.
const SURROUND_GAIN = 0.707;

/**
 * LTX-2's channel handling before the mel transform (`process_videos.py:_encode_audio`): the audio VAE
 * takes exactly two channels. Mono is duplicated; 5.1 (L,R,C,LFE,Ls,Rs) and 7.1 (…,Lb,Rb) are
 * down-mixed with the upstream normalised weights (LFE dropped); any other count above two is averaged
 * to mono and duplicated.
 */
export function toLtxStereo(pcm: readonly Float32Array[]): Float32Array[] {
  const length = frameCount(pcm);
  const ch = (i: number) => pcm[i]!;
  const mix = (terms: [Float32Array, number][]) => {
    const out = new Float32Array(length);
    for (const [x, w] of terms) for (let i = 0; i < length; i++) out[i]! += w * x[i]!;
    return out;
  };
  switch (pcm.length) {
    case 0:
      throw new A2VError("invalid_pcm", "Cannot build LTX stereo from zero channels.", { status: 422 });
    case 1:
      return [ch(0).slice(), ch(0).slice()];
    case 2:
      return [ch(0).slice(), ch(1).slice()];
    case 6: {
      const main = 1 / 2.414;
      const other = SURROUND_GAIN / 2.414;
      return [
        mix([
          [ch(0), main],
          [ch(2), other],
          [ch(4), other],
        ]),
        mix([
          [ch(1), main],
          [ch(2), other],
          [ch(5), other],
        ]),
      ];
    }
    case 8: {
      const main = 1 / 3.121;
      const other = SURROUND_GAIN / 3.121;
      return [
        mix([
          [ch(0), main],
          [ch(2), other],
          [ch(4), other],
          [ch(6), other],
        ]),
        mix([
          [ch(1), main],
          [ch(2), other],
          [ch(5), other],
          [ch(7), other],
        ]),
      ];
    }
    default: {
      const mono = mix(pcm.map((x) => [x, 1 / pcm.length]));
      return [mono, mono.slice()];
    }
  }
}

/**
 * The LTX-2.3 audio VAE encoder input for a waveform at any rate and channel count:
 * `toLtxStereo`, resample to 16 kHz, log-mel with `LTX_MEL_CONFIG` -> [2, T, 64], T = 1 + floor(n16k / 160).
 */
export function ltxAudioFeatures(pcm: readonly Float32Array[], sampleRate: number): MelSpectrogram {
  return melSpectrogram(toLtxStereo(pcm), sampleRate, LTX_MEL_CONFIG);
}

/** Mel spectrogram before the log, of PCM already at `config.sampleRate`. */
export function linearMelSpectrogram(
  pcm: readonly Float32Array[],
  config: Readonly<MelConfig> = LTX_MEL_CONFIG,
): MelSpectrogram {
  const { nFft, hopLength, nMels, power } = config;
  const length = frameCount(pcm);
  const frames = melFrameCount(length, hopLength);
  const bins = nFft / 2 + 1;
  const filterbank = melFilterbank(config);
  const window = fftWindow(config);
  const fft = new Fft(nFft);
  const re = new Float64Array(nFft);
  const im = new Float64Array(nFft);
  const magnitude = new Float64Array(bins);
  const data = new Float32Array(pcm.length * frames * nMels);
  const pad = nFft / 2;
  pcm.forEach((x, c) => {
    for (let t = 0; t < frames; t++) {
      const start = t * hopLength - pad;
      for (let i = 0; i < nFft; i++) {
        re[i] = window[i]! * x[reflectIndex(start + i, length)]!;
        im[i] = 0;
      }
      fft.forward(re, im);
      for (let k = 0; k < bins; k++) {
        const squared = re[k]! * re[k]! + im[k]! * im[k]!;
        magnitude[k] = power === 2 ? squared : Math.sqrt(squared);
      }
      const row = (c * frames + t) * nMels;
      for (let k = 0; k < bins; k++) {
        const m = magnitude[k]!;
        if (m === 0) continue;
        const fbRow = k * nMels;
        for (let j = 0; j < nMels; j++) data[row + j]! += m * filterbank[fbRow + j]!;
      }
    }
  });
  return { data, channels: pcm.length, frames, nMels };
}

/** torch's "reflect" padding (no edge repeat: x[-1] = x[1]), folded again for signals shorter than the pad. */
function reflectIndex(i: number, length: number): number {
  if (length === 1) return 0;
  const period = 2 * (length - 1);
  let j = i % period;
  if (j < 0) j += period;
  return j < length ? j : period - j;
}

/** Periodic Hann of winLength, zero-padded on both sides to nFft (torch.stft's centring of a short window). */
export function fftWindow(config: Readonly<MelConfig>): Float64Array {
  const { nFft, winLength } = config;
  if (!(winLength >= 1 && winLength <= nFft)) {
    throw new A2VError("invalid_option", `winLength must be in [1, nFft], got ${winLength}.`, { status: 422 });
  }
  const window = new Float64Array(nFft);
  const offset = Math.floor((nFft - winLength) / 2);
  for (let i = 0; i < winLength; i++) window[offset + i] = 0.5 - 0.5 * Math.cos((2 * Math.PI * i) / winLength);
  return window;
}

/**
 * Triangular mel filterbank as torchaudio's `melscale_fbanks`: [nFft/2 + 1 frequency bins × nMels],
 * row-major (frequency-major), so mel = |STFT|ᵀ · fb.
 */
export function melFilterbank(config: Readonly<MelConfig>): Float32Array {
  const { nFft, nMels, fMin, fMax, sampleRate, melScale, norm } = config;
  const bins = nFft / 2 + 1;
  const melMin = hzToMel(fMin, melScale);
  const melMax = hzToMel(fMax, melScale);
  const points = Array.from({ length: nMels + 2 }, (_, i) =>
    melToHz(melMin + ((melMax - melMin) * i) / (nMels + 1), melScale),
  );
  const fb = new Float32Array(bins * nMels);
  for (let k = 0; k < bins; k++) {
    // torchaudio: linspace(0, sample_rate // 2, bins).
    const frequency = (Math.floor(sampleRate / 2) * k) / (bins - 1);
    for (let j = 0; j < nMels; j++) {
      const lower = points[j]!;
      const centre = points[j + 1]!;
      const upper = points[j + 2]!;
      const down = (frequency - lower) / (centre - lower);
      const up = (upper - frequency) / (upper - centre);
      let weight = Math.max(0, Math.min(down, up));
      if (norm === "slaney") weight *= 2 / (upper - lower);
      fb[k * nMels + j] = weight;
    }
  }
  return fb;
}

const SLANEY_HZ_PER_MEL = 200 / 3;
const SLANEY_LOG_START_HZ = 1000;
const SLANEY_LOG_START_MEL = SLANEY_LOG_START_HZ / SLANEY_HZ_PER_MEL;
const SLANEY_LOG_STEP = Math.log(6.4) / 27;

function hzToMel(hz: number, scale: MelConfig["melScale"]): number {
  if (scale === "htk") return 2595 * Math.log10(1 + hz / 700);
  if (hz < SLANEY_LOG_START_HZ) return hz / SLANEY_HZ_PER_MEL;
  return SLANEY_LOG_START_MEL + Math.log(hz / SLANEY_LOG_START_HZ) / SLANEY_LOG_STEP;
}

function melToHz(mel: number, scale: MelConfig["melScale"]): number {
  if (scale === "htk") return 700 * (10 ** (mel / 2595) - 1);
  if (mel < SLANEY_LOG_START_MEL) return mel * SLANEY_HZ_PER_MEL;
  return SLANEY_LOG_START_HZ * Math.exp(SLANEY_LOG_STEP * (mel - SLANEY_LOG_START_MEL));
}
