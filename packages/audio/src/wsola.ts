import { A2VError } from "@a2v/errors";
import { frameCount } from "./pcm.js";

export interface TimeStretchOptions {
  /** Analysis/synthesis frame length in seconds (Hann window, 50 % overlap). Default 0.04. */
  frameSeconds?: number;
  /** How far (seconds) a frame may move from its nominal input position to line up with the
   * previous one. Must cover half the longest pitch period: 0.01 s reaches down to 50 Hz. */
  searchSeconds?: number;
  /** Called with the fraction done (0..1) every few hundred frames. */
  onProgress?: (fraction: number) => void;
}

const PROGRESS_EVERY = 256;

/**
 * WSOLA time-stretch (Verhelst & Roelands 1993): changes the duration to exactly `outLength`
 * samples per channel without changing pitch.
 *
 * Frames of `frameSeconds` are read around the nominal input position k·Ha and overlap-added at the
 * fixed synthesis hop Hs = N/2 with a periodic Hann window (which sums to exactly 1 at 50 % overlap,
 * so no gain normalisation is needed). Each frame's read position may move by ±search to maximise
 * the normalised cross-correlation with the natural continuation of the previous frame, so pitch
 * periods line up across the overlap and no phase jumps (clicks) occur. One alignment, computed from
 * all channels together, is applied to every channel so the stereo image stays phase-coherent.
 *
 * The search runs coarse-to-fine (see `FrameAligner`).
 */
export function timeStretch(
  pcm: readonly Float32Array[],
  outLength: number,
  sampleRate: number,
  options: TimeStretchOptions = {},
): Float32Array[] {
  if (!Number.isInteger(outLength) || outLength < 0) {
    throw new A2VError("invalid_option", `outLength must be a non-negative integer, got ${outLength}.`, {
      status: 422,
    });
  }
  if (!(sampleRate > 0)) {
    throw new A2VError("invalid_option", `sampleRate must be positive, got ${sampleRate}.`, { status: 422 });
  }
  const inLength = frameCount(pcm);
  const out = pcm.map(() => new Float32Array(outLength));
  if (outLength === 0 || inLength === 0) return out;

  const hop = Math.max(1, Math.round(((options.frameSeconds ?? 0.04) * sampleRate) / 2));
  const frame = 2 * hop;
  const search = Math.max(0, Math.round((options.searchSeconds ?? 0.01) * sampleRate));
  const analysisHop = (hop * inLength) / outLength;
  const window = risingHalfHann(hop);
  const aligner = new FrameAligner(pcm, hop, search, sampleRate);

  // Frame centres are clamped so a frame never reads past either end once the input is long enough.
  const lo = inLength >= frame ? hop : 0;
  const hi = inLength >= frame ? inLength - hop : inLength;
  const lastFrame = Math.ceil(outLength / hop);
  let previousCentre = 0;
  for (let k = 0; k <= lastFrame; k++) {
    let centre = 0;
    if (k > 0) {
      const nominal = Math.min(hi, Math.max(lo, Math.round(k * analysisHop)));
      centre = aligner.bestCentre(nominal, previousCentre, lo, hi);
    }
    overlapAdd(pcm, out, window, k * hop - hop, centre - hop, frame);
    previousCentre = centre;
    if (options.onProgress && k % PROGRESS_EVERY === 0) options.onProgress(k / lastFrame);
  }
  options.onProgress?.(1);
  return out;
}

/** First half of a periodic Hann window of length 2·hop; the second half is 1 − this, so the pair sums to 1 exactly. */
function risingHalfHann(hop: number): Float32Array {
  const w = new Float32Array(hop);
  for (let i = 0; i < hop; i++) w[i] = 0.5 - 0.5 * Math.cos((Math.PI * i) / hop);
  return w;
}

/** Adds input[src .. src+frame) × window into output[dst .. dst+frame), skipping what falls outside either. */
function overlapAdd(
  pcm: readonly Float32Array[],
  out: Float32Array[],
  rising: Float32Array,
  dst: number,
  src: number,
  frame: number,
): void {
  const hop = rising.length;
  const inLength = pcm[0]!.length;
  const outLength = out[0]!.length;
  const start = Math.max(0, -dst, -src);
  const end = Math.min(frame, outLength - dst, inLength - src);
  for (let c = 0; c < pcm.length; c++) {
    const x = pcm[c]!;
    const y = out[c]!;
    const risingEnd = Math.min(end, hop);
    for (let i = start; i < risingEnd; i++) y[dst + i]! += rising[i]! * x[src + i]!;
    for (let i = Math.max(start, hop); i < end; i++) y[dst + i]! += (1 - rising[i - hop]!) * x[src + i]!;
  }
}

/** One resolution of the alignment search: the input box-filtered and decimated by `step`. */
interface GuideLevel {
  step: number;
  /** Per channel, the decimated signal (the input itself at step 1). */
  channels: readonly Float32Array[];
  /** Prefix sums of the energy summed over channels, for O(1) window energies. */
  energy: Float64Array;
}

/**
 * Finds, for each frame, the read position whose waveform best continues the previous frame.
 * The search is coarse-to-fine over a pyramid (about 4 kHz, 12 kHz, full rate): the whole ±search range
 * at the coarsest level, then ± one coarse step around the optimum at each finer one. That costs a
 * fraction of an exhaustive full-rate search and lands on the same optimum for periodic material.
 */
class FrameAligner {
  private readonly levels: GuideLevel[];

  constructor(
    pcm: readonly Float32Array[],
    private readonly hop: number,
    private readonly search: number,
    sampleRate: number,
  ) {
    const steps = [...new Set(COARSE_RATES.map((rate) => Math.max(1, Math.round(sampleRate / rate))))]
      .filter((step) => step > 1 && hop / step >= 8)
      .sort((a, b) => b - a);
    this.levels = [...steps.map((step) => decimate(pcm, step)), { step: 1, channels: pcm, energy: energyPrefix(pcm) }];
  }

  /**
   * The centre c in [nominal − search, nominal + search] ∩ [lo, hi] maximising the normalised
   * correlation of input[c − hop, c) with input[previous, previous + hop) (the samples that would
   * have followed the previous frame).
   */
  bestCentre(nominal: number, previous: number, lo: number, hi: number): number {
    const hop = this.hop;
    const inLength = this.levels[this.levels.length - 1]!.channels[0]!.length;
    let minCentre = Math.max(lo, nominal - this.search, hop);
    let maxCentre = Math.min(hi, nominal + this.search, inLength);
    if (this.search === 0 || minCentre >= maxCentre || previous + hop > inLength) return nominal;

    let best = Math.min(maxCentre, Math.max(minCentre, nominal));
    let previousStep = 0;
    for (const level of this.levels) {
      if (previousStep > 0) {
        minCentre = Math.max(minCentre, best - previousStep + 1);
        maxCentre = Math.min(maxCentre, best + previousStep - 1);
      }
      best = bestAtLevel(level, hop, previous, minCentre, maxCentre, best);
      previousStep = level.step;
    }
    return best;
  }
}

/** Guide rates of the coarse levels, coarsest first; the finest level is always the input itself. */
const COARSE_RATES = [4_000, 12_000];

/** Exhaustive normalised-correlation search over the centres of one level that fall in [minCentre, maxCentre]. */
function bestAtLevel(
  level: GuideLevel,
  hop: number,
  previous: number,
  minCentre: number,
  maxCentre: number,
  fallback: number,
): number {
  const { step, channels, energy } = level;
  const span = Math.floor(hop / step);
  const reference = Math.floor(previous / step);
  const length = energy.length - 1;
  if (reference + span > length) return fallback;
  const first = Math.ceil((minCentre - hop) / step);
  const last = Math.min(Math.floor((maxCentre - hop) / step), length - span);
  let best = fallback;
  let bestScore = Number.NEGATIVE_INFINITY;
  for (let j = first; j <= last; j++) {
    let dot = 0;
    for (const g of channels) {
      for (let i = 0; i < span; i++) dot += g[j + i]! * g[reference + i]!;
    }
    const score = dot / Math.sqrt(energy[j + span]! - energy[j]! + 1e-12);
    if (score > bestScore) {
      bestScore = score;
      best = j * step + hop;
    }
  }
  return best;
}

/** Box-filter and decimate every channel by `step` (a crude low-pass: enough to line up waveforms). */
function decimate(pcm: readonly Float32Array[], step: number): GuideLevel {
  const length = Math.floor(pcm[0]!.length / step);
  const channels = pcm.map((x) => {
    const g = new Float32Array(length);
    for (let j = 0; j < length; j++) {
      let sum = 0;
      for (let i = j * step; i < j * step + step; i++) sum += x[i]!;
      g[j] = sum / step;
    }
    return g;
  });
  return { step, channels, energy: energyPrefix(channels) };
}

function energyPrefix(channels: readonly Float32Array[]): Float64Array {
  const length = channels[0]!.length;
  const prefix = new Float64Array(length + 1);
  let running = 0;
  for (let j = 0; j < length; j++) {
    for (const g of channels) running += g[j]! * g[j]!;
    prefix[j + 1] = running;
  }
  return prefix;
}
