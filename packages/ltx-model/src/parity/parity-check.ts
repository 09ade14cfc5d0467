import type { HostTensor } from "@a2v/tensor-webgpu";

/** One compared tensor of a golden set. */
export interface ParityCheck {
  name: string;
  /** max |actual - expected| (Infinity on a shape mismatch or NaN); what `tolerance` bounds. */
  maxAbsError: number;
  /** ‖actual − expected‖₂ / ‖expected‖₂ (absolute when the reference is all zero). */
  relativeError: number;
  tolerance: number;
  ok: boolean;
}

export interface ErrorStats {
  maxAbsError: number;
  relativeError: number;
}

/** Max absolute and relative L2 error of `actual` against `expected`; Infinity on a length mismatch or NaN. */
export function errorStats(actual: ArrayLike<number>, expected: ArrayLike<number>): ErrorStats {
  if (actual.length !== expected.length) return { maxAbsError: Infinity, relativeError: Infinity };
  let maxAbs = 0;
  let num = 0;
  let den = 0;
  for (let i = 0; i < expected.length; i++) {
    const d = actual[i]! - expected[i]!;
    if (Number.isNaN(d)) return { maxAbsError: Infinity, relativeError: Infinity };
    maxAbs = Math.max(maxAbs, Math.abs(d));
    num += d * d;
    den += expected[i]! ** 2;
  }
  return { maxAbsError: maxAbs, relativeError: den === 0 ? Math.sqrt(num) : Math.sqrt(num / den) };
}

export function compare(name: string, actual: HostTensor, expected: HostTensor, tolerance: number): ParityCheck {
  const stats =
    String(actual.shape) === String(expected.shape)
      ? errorStats(actual.data, expected.data)
      : { maxAbsError: Infinity, relativeError: Infinity };
  return { name, ...stats, tolerance, ok: stats.maxAbsError <= tolerance };
}

/** Collects checks of the intermediates a reference reports through its trace. */
export function tracer(expected: Map<string, HostTensor>, tolerance: number, checks: ParityCheck[]) {
  return (name: string, value: HostTensor) => {
    const e = expected.get(name);
    if (e) checks.push(compare(name, value, e, tolerance));
  };
}
