/**
 * Pitch and continuity measurements used by the quality tests.
 */

/** Frequency (Hz) of the largest DFT magnitude between fLo and fHi, refined by parabolic interpolation on a
 * Hann-windowed, 2x zero-padded spectrum of (at most) the centre 16384 samples. Direct DFT over the band keeps it dependency-free. */
export function dominantFrequency(signal: Float32Array, sampleRate: number, fLo: number, fHi: number): number {
  // The centre 16k samples are plenty: interpolation resolves far below the 1 % tolerance.
  const keep = Math.min(signal.length, 16_384);
  const x = signal.subarray((signal.length - keep) >> 1, ((signal.length - keep) >> 1) + keep);
  const n = x.length;
  const w = new Float64Array(n);
  for (let i = 0; i < n; i++) w[i] = x[i]! * (0.5 - 0.5 * Math.cos((2 * Math.PI * i) / n));
  const step = sampleRate / (2 * n); // 2x zero-padding resolution
  const mag = (f: number): number => {
    let re = 0;
    let im = 0;
    const omega = (2 * Math.PI * f) / sampleRate;
    // Recurrence instead of cos/sin per sample.
    const c = Math.cos(omega);
    const s = Math.sin(omega);
    let cr = 1;
    let ci = 0;
    for (let i = 0; i < n; i++) {
      re += w[i]! * cr;
      im -= w[i]! * ci;
      const t = cr * c - ci * s;
      ci = cr * s + ci * c;
      cr = t;
    }
    return Math.hypot(re, im);
  };
  let bestF = fLo;
  let best = -1;
  for (let f = fLo; f <= fHi; f += step) {
    const m = mag(f);
    if (m > best) {
      best = m;
      bestF = f;
    }
  }
  const a = Math.log(mag(bestF - step) + 1e-30);
  const b = Math.log(best + 1e-30);
  const c = Math.log(mag(bestF + step) + 1e-30);
  const denom = a - 2 * b + c;
  return denom === 0 ? bestF : bestF + (0.5 * (a - c) * step) / denom;
}

/**
 * YIN fundamental (de Cheveigné & Kawahara 2002) of one frame, or undefined when unvoiced
 * (cumulative-mean-normalised difference never drops below `threshold`).
 */
export function yin(
  frame: Float32Array,
  sampleRate: number,
  fMin = 60,
  fMax = 500,
  threshold = 0.15,
): number | undefined {
  const maxLag = Math.floor(sampleRate / fMin);
  const minLag = Math.floor(sampleRate / fMax);
  const span = frame.length - maxLag;
  if (span <= 0) return undefined;
  const d = new Float64Array(maxLag + 1);
  for (let lag = 1; lag <= maxLag; lag++) {
    let sum = 0;
    for (let i = 0; i < span; i++) {
      const diff = frame[i]! - frame[i + lag]!;
      sum += diff * diff;
    }
    d[lag] = sum;
  }
  let running = 0;
  const cmnd = new Float64Array(maxLag + 1);
  cmnd[0] = 1;
  for (let lag = 1; lag <= maxLag; lag++) {
    running += d[lag]!;
    cmnd[lag] = running === 0 ? 1 : (d[lag]! * lag) / running;
  }
  for (let lag = minLag; lag < maxLag; lag++) {
    if (cmnd[lag]! < threshold) {
      while (lag + 1 < maxLag && cmnd[lag + 1]! < cmnd[lag]!) lag++;
      const a = cmnd[lag - 1]!;
      const b = cmnd[lag]!;
      const c = cmnd[lag + 1]!;
      const denom = a - 2 * b + c;
      const refined = denom === 0 ? lag : lag + (0.5 * (a - c)) / denom;
      return sampleRate / refined;
    }
  }
  return undefined;
}

/** F0 track: YIN on `frameSeconds` frames every `hopSeconds`; undefined where unvoiced or silent. */
export function f0Track(
  x: Float32Array,
  sampleRate: number,
  frameSeconds = 0.04,
  hopSeconds = 0.01,
): (number | undefined)[] {
  const frame = Math.round(frameSeconds * sampleRate);
  const hop = Math.round(hopSeconds * sampleRate);
  let peak = 0;
  for (const v of x) peak = Math.max(peak, Math.abs(v));
  const track: (number | undefined)[] = [];
  for (let start = 0; start + frame <= x.length; start += hop) {
    const slice = x.subarray(start, start + frame);
    let energy = 0;
    for (const v of slice) energy += v * v;
    const rms = Math.sqrt(energy / frame);
    track.push(rms > 0.05 * peak ? yin(slice, sampleRate) : undefined);
  }
  return track;
}

/**
 * Time-aligned F0 ratios: each voiced output frame at time t against the voiced input frame at t / factor
 * (output/input duration). Robust where a global median is not (stretching changes which frames are voiced).
 */
export function alignedF0Ratios(
  input: Float32Array,
  output: Float32Array,
  sampleRate: number,
  factor: number,
): number[] {
  const a = f0Track(input, sampleRate);
  const b = f0Track(output, sampleRate);
  const ratios: number[] = [];
  for (let j = 0; j < b.length; j++) {
    const i = Math.round(j / factor);
    const fa = a[i];
    const fb = b[j];
    if (fa !== undefined && fb !== undefined) ratios.push(fb / fa);
  }
  return ratios;
}

export function quantile(values: number[], q: number): number {
  const sorted = [...values].sort((x, y) => x - y);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.round(q * (sorted.length - 1))))]!;
}

/** Largest |x[n] − x[n−1]|: a click shows up as a jump larger than anything in the source. */
export function maxJump(x: Float32Array): number {
  let max = 0;
  for (let i = 1; i < x.length; i++) max = Math.max(max, Math.abs(x[i]! - x[i - 1]!));
  return max;
}
