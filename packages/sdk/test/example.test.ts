import { execFile } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";

const root = fileURLToPath(new URL("../../..", import.meta.url));
let dir = "";
afterAll(() => (dir ? rm(dir, { recursive: true, force: true }) : undefined));

describe("examples/train/train.mjs", () => {
  it("trains a LoRA through the SDK on the example dataset and prints its outputs", async () => {
    dir = await mkdtemp(join(tmpdir(), "a2v-example-"));
    const { stdout } = await promisify(execFile)("node", ["examples/train/train.mjs", join(dir, "out")], {
      cwd: root,
      env: { ...process.env, A2V_CACHE_DIR: join(dir, "cache") },
      maxBuffer: 1 << 24,
    });
    expect(stdout).toContain("step 100: loss");
    const [, before, after] = /evaluation loss ([\d.]+) \(base\) -> ([\d.]+)/.exec(stdout)!;
    expect(Number(after)).toBeLessThan(Number(before));
    const result = JSON.parse(stdout.trim().split("\n").pop()!);
    expect(result.lora_file).toBe(join(dir, "out", "lora_weights.safetensors"));
    expect(result.billing).toEqual({ units: 100, usd: 0.6 });
    expect(result.video).toBe(join(dir, "out", "validation.mp4"));
    expect(stdout).toContain("preview at step 100");
  }, 900_000);
});
