import { A2VError } from "@a2v/errors";
import { fromDbfs, peakOf } from "./pcm.js";

/** The default peak target: -1 dBFS leaves headroom for lossy re-encoding, which overshoots the sample peak. */
export const DEFAULT_TARGET_DBFS = -1;

/** Peaks below this (-100 dBFS) count as silence and are left untouched rather than amplified into noise. */
export const DEFAULT_SILENCE_THRESHOLD = 1e-5;

export interface PeakNormalizeOptions {
  /** Where the absolute peak should sit, in dBFS (<= 0). Default -1. */
  targetDbfs?: number;
  /** Linear peak below which the input is treated as silence and returned unchanged. Default 1e-5. */
  silenceThreshold?: number;
}

export interface PeakNormalizeResult {
  pcm: Float32Array[];
  /** Linear gain applied (1 for silence). */
  gain: number;
  /** Linear absolute peak before and after. */
  peakBefore: number;
  peakAfter: number;
  /** True when the input was (near) silence and was left unchanged. */
  silent: boolean;
}

/**
 * Scales all channels by one common gain (keeping their balance) so the absolute peak sits at
 * `targetDbfs`. Returns new arrays; the input is not modified.
 */
export function peakNormalize(pcm: readonly Float32Array[], options: PeakNormalizeOptions = {}): PeakNormalizeResult {
  const targetDbfs = options.targetDbfs ?? DEFAULT_TARGET_DBFS;
  const silenceThreshold = options.silenceThreshold ?? DEFAULT_SILENCE_THRESHOLD;
  if (!Number.isFinite(targetDbfs) || targetDbfs > 0) {
    throw new A2VError("invalid_option", `targetDbfs must be a finite number <= 0 dBFS, got ${targetDbfs}.`, {
      status: 422,
    });
  }
  const peakBefore = peakOf(pcm);
  if (!Number.isFinite(peakBefore)) {
    throw new A2VError("invalid_pcm", "PCM contains NaN or infinite samples; cannot normalise.", { status: 422 });
  }
  if (peakBefore < silenceThreshold) {
    return { pcm: pcm.map((c) => c.slice()), gain: 1, peakBefore, peakAfter: peakBefore, silent: true };
  }
  // Computed in float64; the product is rounded to float32 once per sample.
  const gain = fromDbfs(targetDbfs) / peakBefore;
  const out = pcm.map((channel) => {
    const scaled = new Float32Array(channel.length);
    for (let i = 0; i < channel.length; i++) scaled[i] = channel[i]! * gain;
    return scaled;
  });
  return { pcm: out, gain, peakBefore, peakAfter: peakOf(out), silent: false };
}
