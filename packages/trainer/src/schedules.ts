import { A2VError } from "@a2v/errors";

/**
 * Sigma schedules of LTX-2 (`ltx_core/components/schedulers.py:LTX2Scheduler`): a linear 1 → 0 grid, shifted
 * towards high noise by an amount that grows linearly with the token count, then stretched so the last
 * non-zero sigma is exactly `terminal`.
 */

/** Token counts between which the shift is interpolated, and the shifts at those counts. */
const BASE_TOKENS = 1024;
const MAX_TOKENS = 4096;
const BASE_SHIFT = 0.95;
const MAX_SHIFT = 2.05;

/** The shift mu for a token count (also the logit-normal mean of the training sampler). */
export function tokenShift(tokens: number): number {
  const slope = (MAX_SHIFT - BASE_SHIFT) / (MAX_TOKENS - BASE_TOKENS);
  return tokens * slope + (BASE_SHIFT - BASE_TOKENS * slope);
}

export interface SigmaScheduleOptions {
  /** Latent token count; validation sampling passes none, which means 4096 (shift 2.05). */
  tokens?: number;
  /** The last non-zero sigma after stretching. */
  terminal?: number;
}

/** `steps + 1` sigmas from 1 down to 0 (the final 0 is the clean sample). */
export function ltx2Sigmas(steps: number, options: SigmaScheduleOptions = {}): Float64Array {
  if (!Number.isInteger(steps) || steps < 1) {
    throw new A2VError("invalid_steps", `steps must be a positive integer, got ${steps}`, {
      status: 422,
      details: [{ code: "invalid_steps", path: ["steps"], message: `not a positive integer: ${steps}` }],
    });
  }
  const shift = tokenShift(options.tokens ?? MAX_TOKENS);
  const terminal = options.terminal ?? 0.1;
  const sigmas = new Float64Array(steps + 1);
  const expShift = Math.exp(shift);
  for (let i = 0; i <= steps; i++) {
    const s = 1 - i / steps;
    sigmas[i] = s === 0 ? 0 : expShift / (expShift + (1 / s - 1));
  }
  // Stretch: 1 - sigma scaled so the last non-zero sigma lands on `terminal`.
  let lastNonZero = steps;
  while (lastNonZero > 0 && sigmas[lastNonZero] === 0) lastNonZero--;
  const scale = (1 - sigmas[lastNonZero]!) / (1 - terminal);
  // A one-step schedule has only sigma 1, which nothing can stretch (upstream would divide by zero).
  if (scale === 0) return sigmas;
  for (let i = 0; i <= lastNonZero; i++) sigmas[i] = 1 - (1 - sigmas[i]!) / scale;
  return sigmas;
}
