import { releaseGpu } from "@a2v/tensor-webgpu";
import { afterAll, describe, expect, it } from "vitest";
import { goldenParity } from "../../src/parity/golden-parity.js";
import { goldenSet } from "./golden.js";

afterAll(() => releaseGpu());

/** Checks per set and device (every compared output and traced intermediate). */
const sets = {
  video_vae: { cpu: 28, gpu: 28 },
  audio_features_and_vae: { cpu: 13, gpu: 13 },
  text_connector: { cpu: 23, gpu: 23 },
} as const;

// One model code per component, run on both devices.
describe("goldenParity (what `a2v parity` runs for these sets)", () => {
  for (const [name, counts] of Object.entries(sets)) {
    const dir = goldenSet(name);
    for (const device of ["cpu", "gpu"] as const) {
      it.skipIf(!dir)(`${name}: every check passes on the ${device} device`, async () => {
        const report = await goldenParity(dir!, device === "cpu" ? {} : { device });
        expect(report.checks.filter((c) => !c.ok)).toEqual([]);
        expect(report).toMatchObject({ kind: name, device, ok: true });
        expect(report.checks.length).toBeGreaterThanOrEqual(counts[device]);
      });
    }
  }
  it("rejects other kinds", async () => {
    const dir = goldenSet("schedules");
    if (dir) await expect(goldenParity(dir)).rejects.toThrow(/kind schedules is not one of/);
  });
});
