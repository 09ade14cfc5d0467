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
 * the sum of all channels, is applied to every channel so the stereo image stays phase-coherent.
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
  const frameSeconds = options.frameSeconds ?? 0.04;
  const searchSeconds = options.searchSeconds ?? 0.01;
  if (!(frameSeconds > 0 && Number.isFinite(frameSeconds) && searchSeconds >= 0 && Number.isFinite(searchSeconds))) {
    throw new A2VError(
      "invalid_option",
      `frameSeconds must be > 0 and searchSeconds >= 0, got ${frameSeconds} and ${searchSeconds}.`,
      { status: 422 },
    );
  }
  const inLength = frameCount(pcm);
  const out = pcm.map(() => new Float32Array(outLength));
  if (outLength === 0 || inLength === 0) return out;

  const hop = Math.max(1, Math.round((frameSeconds * sampleRate) / 2));
  const frame = 2 * hop;
  const search = Math.round(searchSeconds * sampleRate);
  const analysisHop = (hop * inLength) / outLength;
  const window = risingHalfHann(hop);
  const aligner = new FrameAligner(pcm, hop, search, sampleRate);

  // Frame centres are clamped so a frame never reads past either end once the input is long enough.
  const lo = inLength >= frame ? hop : 0;
  const hi = inLength >= frame ? inLength - hop : inLength;
  const lastFrame = Math.ceil(outLength / hop);
  // Output [(k−1)·hop, k·hop) is where frame k−1's falling half meets frame k's rising half: each output
  // sample is written once, as the cross-fade of the two frames' input samples.
  let previousCentre = 0;
  for (let k = 1; k <= lastFrame; k++) {
    const nominal = Math.min(hi, Math.max(lo, Math.round(k * analysisHop)));
    const centre = aligner.bestCentre(nominal, previousCentre, lo, hi);
    const start = (k - 1) * hop;
    const count = Math.min(hop, outLength - start);
    for (let c = 0; c < pcm.length; c++) {
      crossFade(pcm[c]!, out[c]!, window, start, count, previousCentre, centre - hop);
    }
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

/**
 * y[start + i] = (1 − w[i])·x[fading + i] + w[i]·x[rising + i] for i < count; input outside x reads as 0
 * (only possible for inputs shorter than one frame).
 */
function crossFade(
  x: Float32Array,
  y: Float32Array,
  w: Float32Array,
  start: number,
  count: number,
  fading: number,
  rising: number,
): void {
  if (fading >= 0 && rising >= 0 && fading + count <= x.length && rising + count <= x.length) {
    for (let i = 0; i < count; i++) {
      const a = x[fading + i]!;
      y[start + i] = a + w[i]! * (x[rising + i]! - a);
    }
    return;
  }
  const at = (j: number) => (j >= 0 && j < x.length ? x[j]! : 0);
  for (let i = 0; i < count; i++) y[start + i] = (1 - w[i]!) * at(fading + i) + w[i]! * at(rising + i);
}

/** One resolution of the alignment search: the guide box-filtered and decimated by `step`. */
interface GuideLevel {
  step: number;
  signal: Float32Array;
}

/**
 * Finds, for each frame, the read position whose waveform best continues the previous frame.
 *
 * The guide is the sum of all channels, so every channel gets the same alignment (phase-coherent
 * stereo); content that cancels in the sum (exactly anti-phase channels) gets no alignment benefit.
 * The search is coarse-to-fine over a pyramid of the guide (at 48 kHz: 2, 4, 12, 24 and 48 kHz): the whole
 * ±search range at the coarsest level, then ± one coarser step around the optimum at each finer one,
 * which costs a small fraction of an exhaustive full-rate search.
 */
class FrameAligner {
  private readonly levels: GuideLevel[];

  constructor(
    pcm: readonly Float32Array[],
    private readonly hop: number,
    private readonly search: number,
    sampleRate: number,
  ) {
    this.levels = [{ step: 1, signal: channelSum(pcm) }];
    // Halve while the rate stays >= 10 kHz, then a third (about 4 kHz) and a last half (about 2 kHz).
    let rate = sampleRate;
    for (const [factor, minRate] of PYRAMID) {
      const coarser = rate / factor;
      if (coarser < minRate) continue;
      const previous = this.levels[0]!;
      if (hop / (previous.step * factor) < 8) break;
      this.levels.unshift(decimate(previous, factor));
      rate = coarser;
    }
  }

  /**
   * The centre c in [nominal − search, nominal + search] ∩ [lo, hi] maximising the normalised
   * correlation of input[c − hop, c) with input[previous, previous + hop) (the samples that would
   * have followed the previous frame).
   */
  bestCentre(nominal: number, previous: number, lo: number, hi: number): number {
    const hop = this.hop;
    const inLength = this.levels[this.levels.length - 1]!.signal.length;
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

/** [decimation factor, lowest rate it may produce], finest first. */
const PYRAMID: [number, number][] = [
  [2, 10_000],
  [2, 10_000],
  [2, 10_000],
  [2, 10_000],
  [3, 3_000],
  [2, 1_500],
];

/** Exhaustive normalised-correlation search over the centres of one level that fall in [minCentre, maxCentre]. */
function bestAtLevel(
  level: GuideLevel,
  hop: number,
  previous: number,
  minCentre: number,
  maxCentre: number,
  fallback: number,
): number {
  const { step, signal: g } = level;
  const span = Math.floor(hop / step);
  const reference = Math.floor(previous / step);
  // The decimated reference starts `phase` samples before `previous`, so guide index j stands for the
  // candidate starting at j·step + phase: both sides are shifted alike and the match is unbiased.
  const phase = previous - reference * step;
  const length = g.length;
  if (reference + span > length) return fallback;
  const first = Math.max(0, Math.ceil((minCentre - hop - phase) / step));
  const last = Math.min(Math.floor((maxCentre - hop - phase) / step), length - span);
  // Candidate energies slide along with j: one full sum, then one sample in and one out per step.
  let energy = 0;
  for (let i = first; i < first + span && i < length; i++) energy += g[i]! * g[i]!;
  let best = fallback;
  let bestScore = Number.NEGATIVE_INFINITY;
  for (let j = first; j <= last; j++) {
    if (j > first) energy += g[j + span - 1]! * g[j + span - 1]! - g[j - 1]! * g[j - 1]!;
    let dot = 0;
    for (let i = 0; i < span; i++) dot += g[j + i]! * g[reference + i]!;
    const score = dot / Math.sqrt(Math.max(energy, 0) + 1e-12);
    if (score > bestScore) {
      bestScore = score;
      best = j * step + phase + hop;
    }
  }
  return best;
}

/** Box-filter and decimate a level by `factor` (a crude low-pass: enough to line up waveforms). */
function decimate(level: GuideLevel, factor: number): GuideLevel {
  const x = level.signal;
  const length = Math.floor(x.length / factor);
  const g = new Float32Array(length);
  if (factor === 2) {
    for (let j = 0; j < length; j++) g[j] = 0.5 * (x[2 * j]! + x[2 * j + 1]!);
  } else {
    const scale = 1 / factor;
    for (let j = 0, i = 0; j < length; j++) {
      let sum = 0;
      for (const end = i + factor; i < end; i++) sum += x[i]!;
      g[j] = sum * scale;
    }
  }
  return { step: level.step * factor, signal: g };
}

function channelSum(pcm: readonly Float32Array[]): Float32Array {
  if (pcm.length === 1) return pcm[0]!;
  const sum = new Float32Array(pcm[0]!.length);
  for (const x of pcm) {
    for (let i = 0; i < sum.length; i++) sum[i]! += x[i]!;
  }
  return sum;
}
