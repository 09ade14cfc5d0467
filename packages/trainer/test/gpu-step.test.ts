import { init, releaseGpu, rt } from "@a2v/tensor-webgpu";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type GpuStepOptions, gpuStepRow, gpuStepTable } from "../bench/gpu-step.js";

beforeAll(() => init());
afterAll(() => releaseGpu());

// What scripts/gpu-bench.sh runs on a lent GPU at 22B width, here on the tiny preset: the rows must be measured
// (positive, the peak at least the weights) and the whole-model figures must add the blocks not loaded.
describe("gpu-step bench (full-width training steps per weight mode)", () => {
  it("measures a step per mode and extrapolates to the preset's depth", async () => {
    const o: GpuStepOptions = {
      preset: "tiny",
      layers: 1,
      grid: { frames: 2, height: 2, width: 2 },
      audioTokens: 3,
      iterations: 1,
      rank: 4,
    };
    const live = rt().pool.stats.liveBytes;
    const rows = [await gpuStepRow("fp8", o), await gpuStepRow("bf16", o)];
    // Everything the run allocated is freed again (weights, LoRA, AdamW).
    expect(rt().pool.stats.liveBytes).toBe(live);
    for (const r of rows) {
      expect(r.stepMs).toBeGreaterThan(0);
      expect(r.peakHeldBytes).toBeGreaterThanOrEqual(r.peakLiveBytes);
      expect(r.perBlockBytes).toBeGreaterThan(0);
      expect(r.fullPeakLiveBytes).toBeCloseTo(r.peakLiveBytes + r.perBlockBytes, 0);
      expect(r.fullStepMs).toBeCloseTo(2 * r.stepMs, 6);
    }
    // fp8 block weights take fewer bytes per block than bf16.
    expect(rows[0]!.perBlockBytes).toBeLessThan(rows[1]!.perBlockBytes);
    const table = gpuStepTable(rows, o);
    expect(table).toHaveLength(5);
    expect(table[3]).toMatch(/^\| fp8 \| \d+ \|/);
  });
});
