/** Price of one billable unit in USD. */
export const USD_PER_UNIT = 0.006;
/** Every successful run is billed at least this many units. */
export const MIN_UNITS = 100;

export interface Bill {
  units: number;
  usd: number;
}

/**
 * What a successful run costs: max(100, steps) units at $0.006. A run that fails before training
 * completes is billed 0: `train()` returns this bill only on success and `billing.units = 0` on every
 * error it throws (see `failedBill`).
 */
export function billing(input: { number_of_steps: number }): Bill {
  const units = Math.max(MIN_UNITS, input.number_of_steps);
  return { units, usd: Math.round(units * USD_PER_UNIT * 1e6) / 1e6 };
}

/** The bill of any run that failed before training completed (422s, download failures, crashes). */
export const failedBill: Readonly<Bill> = Object.freeze({ units: 0, usd: 0 });
