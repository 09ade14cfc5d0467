import type { HostTensor } from "./reference/tensor.js";

/** One compared tensor of a golden set. */
export interface ParityCheck {
  name: string;
  /** max |actual - expected| (Infinity on a shape mismatch or NaN). */
  maxAbsError: number;
  tolerance: number;
  ok: boolean;
}

export function compare(name: string, actual: HostTensor, expected: HostTensor, tolerance: number): ParityCheck {
  let worst = String(actual.shape) === String(expected.shape) ? 0 : Number.POSITIVE_INFINITY;
  for (let i = 0; i < expected.data.length && worst !== Number.POSITIVE_INFINITY; i++) {
    const d = Math.abs(actual.data[i]! - expected.data[i]!);
    if (!(d <= worst)) worst = Number.isNaN(d) ? Number.POSITIVE_INFINITY : d;
  }
  return { name, maxAbsError: worst, tolerance, ok: worst <= tolerance };
}

/** Collects checks of the intermediates a reference reports through its trace. */
export function tracer(expected: Map<string, HostTensor>, tolerance: number, checks: ParityCheck[]) {
  return (name: string, value: HostTensor) => {
    const e = expected.get(name);
    if (e) checks.push(compare(name, value, e, tolerance));
  };
}
