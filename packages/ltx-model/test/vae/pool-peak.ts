import { rt } from "@a2v/tensor-webgpu";

/**
 * Runs `fn` and reports the high-water mark of the tensor pool's live bytes above what was live
 * before (sampled at every buffer the pool hands out), and the live bytes left over after.
 */
export async function poolPeak<T>(fn: () => Promise<T>): Promise<{ result: T; peak: number; leftover: number }> {
  const pool = rt().pool;
  const base = pool.stats.liveBytes;
  let peak = base;
  const acquire = pool.acquire;
  pool.acquire = (bytes: number) => {
    const buffer = acquire.call(pool, bytes);
    peak = Math.max(peak, pool.stats.liveBytes);
    return buffer;
  };
  try {
    const result = await fn();
    return { result, peak: peak - base, leftover: pool.stats.liveBytes - base };
  } finally {
    pool.acquire = acquire;
  }
}
