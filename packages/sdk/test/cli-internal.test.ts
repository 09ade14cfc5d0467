import { describe, expect, it, vi } from "vitest";
import { EXIT, runCli } from "../src/index.js";

// An unexpected (non-A2VError) failure inside a command: here `a2v doctor` hitting a bug.
vi.mock("../src/doctor.js", () => ({
  doctor: async () => {
    throw new TypeError("Cannot read properties of undefined (reading 'limits')");
  },
  formatDoctor: () => "",
}));

async function cli(...argv: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(argv, { stdout: (s) => out.push(s), stderr: (s) => err.push(s) });
  return { code, stdout: out.join("\n"), stderr: err.join("\n") };
}

describe("an unexpected error", () => {
  it("under --json is still one JSON object on stdout: { status: 500, code: internal, message }, exit 1", async () => {
    const r = await cli("doctor", "--json");
    expect(r.code).toBe(EXIT.failure);
    expect(r.stderr).toBe("");
    expect(JSON.parse(r.stdout)).toEqual({
      status: 500,
      code: "internal",
      message: "Cannot read properties of undefined (reading 'limits')",
      details: [],
    });
  });

  it("in text mode is `error [internal]: message` with the stack on stderr, exit 1", async () => {
    const r = await cli("doctor");
    expect(r.code).toBe(EXIT.failure);
    expect(r.stdout).toBe("");
    expect(r.stderr).toMatch(/^error \[internal\]: Cannot read properties of undefined/);
    expect(r.stderr).toContain("TypeError: Cannot read properties");
  });
});
