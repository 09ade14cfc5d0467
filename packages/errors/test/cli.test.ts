import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { A2VError, EXIT, fromSystemError, reportError, toA2VError } from "../src/index.js";

function capture() {
  const out: string[] = [];
  const err: string[] = [];
  return { io: { stdout: (s: string) => out.push(s), stderr: (s: string) => err.push(s) }, out, err };
}

const thrown = (fn: () => unknown): unknown => {
  try {
    fn();
  } catch (error) {
    return error;
  }
  throw new Error("did not throw");
};

describe("toA2VError / fromSystemError", () => {
  it("names the path and the rule of file-system errors", async () => {
    const dir = await mkdtemp(join(tmpdir(), "a2v-errors-"));
    try {
      const file = join(dir, "taken");
      await writeFile(file, "x");
      const { mkdir } = await import("node:fs/promises");
      const exists = toA2VError(await mkdir(file).catch((e: unknown) => e));
      expect(exists).toMatchObject({ code: "path_exists", status: 422 });
      expect(exists.message).toBe(`${file}: already exists`);
      expect(exists.details).toEqual([expect.objectContaining({ code: "EEXIST", file })]);
      const missing = fromSystemError(await writeFile(join(dir, "no", "x"), "x").catch((e: unknown) => e), {
        what: "output folder",
      });
      expect(missing).toMatchObject({ code: "path_not_found", status: 422 });
      expect(missing!.message).toBe(`output folder ${join(dir, "no", "x")}: no such file or folder`);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("maps file:// URLs with a host or an encoded slash", () => {
    const host = toA2VError(thrown(() => fileURLToPath("file://example.com/x.zip")));
    expect(host).toMatchObject({ code: "file_url_host", status: 422 });
    const slash = fromSystemError(
      thrown(() => fileURLToPath("file:///a%2Fb.zip")),
      { file: "file:///a%2Fb.zip" },
    );
    expect(slash).toMatchObject({ code: "file_url_path", status: 422 });
    expect(slash!.message).toContain("file:///a%2Fb.zip");
    expect(slash!.details[0]).toMatchObject({ code: "ERR_INVALID_FILE_URL_PATH", file: "file:///a%2Fb.zip" });
  });

  it("keeps A2VErrors, and makes anything else internal (500) with the cause", () => {
    const own = new A2VError("x", "y", { status: 422 });
    expect(toA2VError(own)).toBe(own);
    const cause = new RangeError("Invalid typed array length: 4000000000");
    expect(toA2VError(cause)).toMatchObject({ code: "internal", status: 500, message: cause.message, cause });
    expect(toA2VError("a string")).toMatchObject({ code: "internal", message: "a string" });
    expect(fromSystemError(new Error("plain"))).toBeUndefined();
  });
});

describe("reportError", () => {
  it("prints one JSON object on stdout under --json, also for unexpected errors, and exits 1", () => {
    const c = capture();
    expect(reportError(new TypeError("boom"), c.io, { json: true })).toBe(EXIT.failure);
    expect(c.err).toEqual([]);
    expect(JSON.parse(c.out.join("\n"))).toEqual({ status: 500, code: "internal", message: "boom", details: [] });
  });

  it("prints code, message and details on stderr otherwise, with exit codes by status", () => {
    const c = capture();
    const rejected = new A2VError("bad_file", "nope", {
      status: 422,
      details: [{ code: "rule", message: "why", file: "a.wav" }],
    });
    expect(reportError(rejected, c.io)).toBe(EXIT.rejected);
    expect(c.err).toEqual(["error [bad_file]: nope", "  - a.wav: why [rule]"]);
    expect(c.out).toEqual([]);
    const usage = capture();
    expect(reportError(new A2VError("usage", "missing x", { status: 400 }), usage.io, { usage: "a2v x" })).toBe(
      EXIT.usage,
    );
    expect(usage.err.join("\n")).toBe("missing x\n\na2v x");
    expect(reportError(new A2VError("download_failed", "x", { status: 400 }), capture().io)).toBe(EXIT.failure);
  });
});

describe("reportError on a terminal", () => {
  it("escapes bidi overrides and C1 controls in names and messages, and keeps them exact in JSON", () => {
    const name = "clip\u202Egpj.exe_end.mp4";
    const error = new A2VError("corrupt_media", `${name}: unreadable`, {
      status: 422,
      details: [{ code: "corrupt_media", file: name, message: "bad\u0085header" }],
    });
    const text: string[] = [];
    reportError(error, { stdout: (s) => text.push(s), stderr: (s) => text.push(s) });
    expect(text.join("\n")).toContain("clip\\u202Egpj.exe_end.mp4");
    expect(text.join("\n")).toContain("bad\\u0085header");
    expect(text.join("\n")).not.toContain("\u202E");
    const json: string[] = [];
    reportError(error, { stdout: (s) => json.push(s), stderr: (s) => json.push(s) }, { json: true });
    expect(JSON.parse(json.join("")).details[0].file).toBe(name);
  });
});
