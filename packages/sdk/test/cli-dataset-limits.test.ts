import { execFileSync } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { EXIT, runCli } from "../src/index.js";

const example = fileURLToPath(new URL("../../../examples/dataset/a2v-example.zip", import.meta.url));

async function cli(...argv: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(argv, { stdout: (s) => out.push(s), stderr: (s) => err.push(s) });
  return { code, stdout: out.join("\n"), stderr: err.join("\n") };
}

describe("a2v validate / preprocess dataset limits", () => {
  it("--max-archive-bytes caps the archive (archive_too_large, exit 3)", async () => {
    const r = await cli("validate", example, "--max-archive-bytes", "1000", "--json");
    expect(r.code).toBe(EXIT.rejected);
    expect(JSON.parse(r.stdout)).toMatchObject({ status: 422, code: "archive_too_large" });
  });

  it("--frame-rate judges targets at the training rate (the 4 s targets: 120 frames at 30 fps, 96 at 24)", async () => {
    expect((await cli("validate", example, "--frame-rate", "30", "--number-of-frames", "113", "--json")).code).toBe(
      EXIT.ok,
    );
    const r = await cli("validate", example, "--frame-rate", "24", "--number-of-frames", "113", "--json");
    expect(JSON.parse(r.stdout).code).toBe("all_targets_too_short");
  });

  it("bad flag values are refused before any work", async () => {
    expect((await cli("validate", example, "--download-deadline", "soon")).code).toBe(EXIT.usage);
    expect((await cli("validate", example, "--max-archive-bytes", "-5")).code).toBe(EXIT.usage);
    expect((await cli("validate", example, "--frame-rate", "2.5")).code).toBe(EXIT.rejected);
    expect(
      (await cli("preprocess", example, "--out", join(tmpdir(), "a2v-limits-out"), "--download-deadline", "0")).code,
    ).toBe(EXIT.usage);
  });

  it("names with bidi overrides are escaped in human output and exact in --json", async () => {
    const dir = await mkdtemp(join(tmpdir(), "a2v-bidi-"));
    try {
      const zip = join(dir, "bidi.zip");
      const script = `import sys, zipfile
with zipfile.ZipFile(sys.argv[1], "w") as z:
    z.writestr("clip\u202egnp.exe_start.png", b"x")`;
      execFileSync("python3", ["-c", script, zip]);
      const human = await cli("validate", zip);
      expect(human.code).toBe(EXIT.rejected);
      expect(human.stderr).toContain("clip\\u202Egnp.exe");
      expect(human.stderr).not.toContain("\u202e");
      const json = await cli("validate", zip, "--json");
      const groups = JSON.parse(json.stdout).details.map((d: { group?: string }) => d.group);
      expect(groups).toContain("clip\u202egnp.exe");
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
