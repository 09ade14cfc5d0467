import { A2VError } from "@a2v/errors";
import { frameCount } from "./pcm.js";
import { type TimeStretchOptions, timeStretch } from "./wsola.js";

export interface FitToDurationOptions extends TimeStretchOptions {
  /**
   * true (default): time-stretch with WSOLA so the pitch is unchanged.
   * false: keep the samples as they are and trim the end or pad it with silence.
   */
  preservePitch?: boolean;
}

/** Output length in samples per channel for a duration: round(seconds × sampleRate). */
export function samplesForDuration(seconds: number, sampleRate: number): number {
  if (!Number.isFinite(seconds) || seconds < 0) {
    throw new A2VError("invalid_option", `Duration must be a finite number of seconds >= 0, got ${seconds}.`, {
      status: 422,
    });
  }
  if (!Number.isFinite(sampleRate) || sampleRate <= 0) {
    throw new A2VError("invalid_option", `sampleRate must be a positive number, got ${sampleRate}.`, { status: 422 });
  }
  return Math.round(seconds * sampleRate);
}

/**
 * Returns exactly round(seconds × sampleRate) samples per channel: time-stretched without changing
 * pitch (default), or trimmed/zero-padded at the end with `preservePitch: false`.
 * Stretch factors of 0.25..4 (output/input duration) are tested; beyond that WSOLA still returns
 * the exact length but repeats or skips ever larger pieces of the input.
 */
export function fitToDuration(
  pcm: readonly Float32Array[],
  sampleRate: number,
  seconds: number,
  options: FitToDurationOptions = {},
): Float32Array[] {
  const outLength = samplesForDuration(seconds, sampleRate);
  const inLength = frameCount(pcm);
  if (outLength === inLength) return pcm.map((c) => c.slice());
  if (options.preservePitch ?? true) return timeStretch(pcm, outLength, sampleRate, options);
  return pcm.map((channel) => {
    const fitted = new Float32Array(outLength);
    fitted.set(channel.subarray(0, Math.min(outLength, inLength)));
    return fitted;
  });
}
