import { describe, expect, it } from "vitest";
import { runCli } from "../src/index.js";

describe("a2v describe: the validation decode's memory", () => {
  it("plans the 22B VAE decode at the service's validation defaults, untiled and tiled", async () => {
    const out: string[] = [];
    const code = await runCli(["describe", "--json"], { stdout: (s) => out.push(s), stderr: () => {} });
    expect(code).toBe(0);
    const { decode } = JSON.parse(out.join(""));
    // 960×960, 89 frames → 12 latent frames of 30×30.
    expect(decode.latentShape).toEqual([1, 128, 12, 30, 30]);
    expect(decode.tiled.tileLatentShape).toEqual([1, 128, 9, 16, 16]);
    expect(decode.tiled.outputBytes).toBeGreaterThanOrEqual(3 * 89 * 960 * 960 * 4);
    const untiled = decode.untiled.weightBytes + decode.untiled.peakActivationBytes;
    expect(decode.tiled.totalBytes).toBeLessThan(untiled);
    // Both fit an 80 GB GPU with the transformer's training state freed.
    expect(untiled).toBeLessThan(80e9);
  });
});
