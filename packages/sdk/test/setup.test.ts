import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";

const run = promisify(execFile);
const root = fileURLToPath(new URL("../../../", import.meta.url));

describe("scripts/setup.sh", () => {
  // The test suite itself started with setup.sh, so this is always a second run.
  it("does no work on a second run: nothing installed, nothing rebuilt", async () => {
    const { stdout, stderr } = await run("bash", ["scripts/setup.sh"], { cwd: root, timeout: 120_000 });
    expect(stderr).not.toMatch(/\[setup\]/);
    expect(stdout.trim()).toBe("");
  });
});
