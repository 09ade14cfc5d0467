import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";

const root = fileURLToPath(new URL("../../../", import.meta.url));

describe("examples/tensor/fit-lora.mjs", () => {
  it("fits the adapter: the loss falls by more than 10x in 100 steps", async () => {
    // The example imports the built package (dist), as a user's program would.
    const { stdout } = await promisify(execFile)("node", ["examples/tensor/fit-lora.mjs"], { cwd: root });
    const losses = [...stdout.matchAll(/step (\d+): loss ([\d.]+)/g)].map((m) => Number(m[2]));
    expect(losses.length).toBe(5);
    expect(losses.at(-1)!).toBeLessThan(losses[0]! / 10);
    expect(stdout).toMatch(/100 steps in [\d.]+ s; \d+ dispatches, \d+ pipelines/);
  });
});
