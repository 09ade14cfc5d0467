import { releaseGpu } from "@a2v/tensor-webgpu";
import { afterAll, describe, expect, it } from "vitest";
import { goldenParity } from "../../src/vae/golden-parity.js";
import { goldenSet } from "./golden.js";

afterAll(() => releaseGpu());

const sets = { video_vae: [28, 2], audio_features_and_vae: [13, 4], text_connector: [22, 5] } as const;

describe("goldenParity (what `a2v parity` runs for these sets)", () => {
  for (const [name, [cpuChecks, gpuChecks]] of Object.entries(sets)) {
    const dir = goldenSet(name);
    it.skipIf(!dir)(`${name}: every check passes on the CPU reference and the GPU`, async () => {
      const cpu = await goldenParity(dir!);
      expect(cpu.checks.filter((c) => !c.ok)).toEqual([]);
      expect(cpu).toMatchObject({ kind: name, device: "cpu", ok: true });
      expect(cpu.checks.length).toBeGreaterThanOrEqual(cpuChecks);
      const gpu = await goldenParity(dir!, { gpu: true });
      expect(gpu.checks.filter((c) => !c.ok)).toEqual([]);
      expect(gpu.checks.length).toBeGreaterThanOrEqual(gpuChecks);
    });
  }
  it("rejects other kinds", async () => {
    const dir = goldenSet("schedules");
    if (dir) await expect(goldenParity(dir)).rejects.toThrow(/kind schedules is not one of/);
  });
});
