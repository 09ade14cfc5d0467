import { A2VError } from "@a2v/errors";
import { frameCount } from "./pcm.js";

export interface ResampleOptions {
  /** Zero crossings of the sinc on each side (torchaudio `lowpass_filter_width`). Default 6. */
  lowpassFilterWidth?: number;
  /** Cut-off as a fraction of the lower Nyquist frequency (torchaudio `rolloff`). Default 0.99. */
  rolloff?: number;
}

/**
 * Band-limited resampling between integer rates with a Hann-windowed sinc (the anti-aliasing low-pass
 * sits at `rolloff` × the lower of the two Nyquist frequencies). It is the same polyphase filter as
 * `torchaudio.functional.resample` with its defaults (sinc_interp_hann, width 6, rolloff 0.99), which the
 * LTX-2 trainer uses to reach 16 kHz, and returns the same ceil(n × to / from) samples per channel.
 */
export function resample(
  pcm: readonly Float32Array[],
  from: number,
  to: number,
  options: ResampleOptions = {},
): Float32Array[] {
  for (const [name, rate] of [
    ["from", from],
    ["to", to],
  ] as const) {
    if (!Number.isInteger(rate) || rate <= 0) {
      throw new A2VError("invalid_option", `resample: '${name}' must be a positive integer rate, got ${rate}.`, {
        status: 422,
      });
    }
  }
  const length = frameCount(pcm);
  if (from === to) return pcm.map((c) => c.slice());
  const divisor = gcd(from, to);
  const inStep = from / divisor;
  const outStep = to / divisor;
  const kernels = sincKernels(inStep, outStep, options.lowpassFilterWidth ?? 6, options.rolloff ?? 0.99);
  const outLength = Math.ceil((outStep * length) / inStep);
  return pcm.map((x) => applyKernels(x, kernels, inStep, outStep, outLength));
}

/** Cap on the polyphase table (the rates' reduced ratio decides its size); 16 M doubles = 128 MB. */
const MAX_COEFFICIENTS = 1 << 24;

interface PolyphaseKernels {
  /** Zero padding before the signal (torchaudio `width`). */
  width: number;
  /** Taps per output phase. */
  taps: number;
  /** outStep phases × taps coefficients. */
  coefficients: Float64Array;
}

/** One windowed-sinc kernel per output phase j, sampled at input offsets (i − width) / inStep − j / outStep. */
function sincKernels(inStep: number, outStep: number, zeroCrossings: number, rolloff: number): PolyphaseKernels {
  const cutoff = Math.min(inStep, outStep) * rolloff;
  const width = Math.ceil((zeroCrossings * inStep) / cutoff);
  const taps = 2 * width + inStep;
  if (outStep * taps > MAX_COEFFICIENTS) {
    throw new A2VError(
      "invalid_option",
      `resample: the rate ratio ${inStep}:${outStep} needs a ${outStep}-phase filter; use rates with a larger common divisor.`,
      { status: 422 },
    );
  }
  const coefficients = new Float64Array(outStep * taps);
  const scale = cutoff / inStep;
  for (let j = 0; j < outStep; j++) {
    for (let i = 0; i < taps; i++) {
      let t = ((i - width) / inStep - j / outStep) * cutoff;
      t = Math.min(zeroCrossings, Math.max(-zeroCrossings, t));
      const window = Math.cos((t * Math.PI) / zeroCrossings / 2) ** 2;
      const sinc = t === 0 ? 1 : Math.sin(Math.PI * t) / (Math.PI * t);
      coefficients[j * taps + i] = sinc * window * scale;
    }
  }
  return { width, taps, coefficients };
}

function applyKernels(
  x: Float32Array,
  { width, taps, coefficients }: PolyphaseKernels,
  inStep: number,
  outStep: number,
  outLength: number,
): Float32Array {
  const y = new Float32Array(outLength);
  const n = x.length;
  for (let o = 0; o < outLength; o++) {
    const block = Math.floor(o / outStep);
    const phase = o - block * outStep;
    const base = phase * taps;
    // Input index of tap i is block·inStep + i − width; taps outside the signal read zeros.
    const offset = block * inStep - width;
    const first = Math.max(0, -offset);
    const last = Math.min(taps, n - offset);
    let sum = 0;
    for (let i = first; i < last; i++) sum += coefficients[base + i]! * x[offset + i]!;
    y[o] = sum;
  }
  return y;
}

function gcd(a: number, b: number): number {
  while (b !== 0) [a, b] = [b, a % b];
  return a;
}
