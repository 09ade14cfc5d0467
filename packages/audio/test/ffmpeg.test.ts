import { describe, expect, it } from "vitest";
import { mediaTools } from "../src/index.js";

describe("mediaTools", () => {
  it("finds a working ffmpeg and ffprobe and says where they came from", () => {
    const tools = mediaTools();
    for (const tool of [tools.ffmpeg, tools.ffprobe]) {
      expect(["env", "system", "npm"]).toContain(tool.source);
      expect(tool.version).toMatch(/version/);
    }
    expect(mediaTools()).toBe(tools);
  });
});
