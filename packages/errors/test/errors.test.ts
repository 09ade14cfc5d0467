import { describe, expect, it } from "vitest";
import { A2VError, isA2VError } from "../src/index.js";

describe("A2VError", () => {
  it("carries status, code, details and serialises to the wire form", () => {
    const err = new A2VError("invalid_input", "bad", {
      status: 422,
      details: [{ code: "too_small", message: "rank", path: ["rank"] }],
    });
    expect(err).toBeInstanceOf(Error);
    expect(isA2VError(err)).toBe(true);
    expect(JSON.parse(JSON.stringify(err))).toEqual({
      status: 422,
      code: "invalid_input",
      message: "bad",
      details: [{ code: "too_small", message: "rank", path: ["rank"] }],
    });
  });

  it("defaults to status 500 with no details and keeps the cause", () => {
    const cause = new Error("root");
    const err = new A2VError("download_failed", "x", { cause });
    expect(err.status).toBe(500);
    expect(err.details).toEqual([]);
    expect(err.cause).toBe(cause);
    expect(isA2VError(new Error("plain"))).toBe(false);
  });
});
