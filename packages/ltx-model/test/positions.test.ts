import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  audioPositions,
  patchifyAudio,
  patchifyVideo,
  unpatchifyAudio,
  unpatchifyVideo,
  videoPatchGridBounds,
  videoPixelPositions,
  videoPositions,
} from "../src/positions.js";
import { hasGolden, readAll, readGoldenConfig, TRANSFORMER_GOLDEN } from "./golden.js";

describe.skipIf(!hasGolden)("positions and patchify against transformer_a2v golden", async () => {
  const tensors = hasGolden ? await readAll(join(TRANSFORMER_GOLDEN, "tensors.safetensors")) : new Map();
  const config = hasGolden ? await readGoldenConfig() : {};
  const get = (name: string) => tensors.get(name)!;

  it("patchifies video latents in (f, h, w) order", () => {
    const [, c, f, h, w] = get("video_latents").shape;
    const tokens = patchifyVideo(get("video_latents").data, c, { frames: f, height: h, width: w });
    expect(Array.from(tokens)).toEqual(Array.from(get("video_tokens").data));
    expect(Array.from(unpatchifyVideo(tokens, c, { frames: f, height: h, width: w }))).toEqual(
      Array.from(get("video_latents").data),
    );
  });

  it("patchifies audio latents as channels × mel bins per time step", () => {
    const [, c, t, m] = get("audio_latents").shape;
    const tokens = patchifyAudio(get("audio_latents").data, c, t, m);
    expect(Array.from(tokens)).toEqual(Array.from(get("audio_tokens").data));
    expect(Array.from(unpatchifyAudio(tokens, c, t, m))).toEqual(Array.from(get("audio_latents").data));
  });

  it("reproduces video pixel positions (causal fix, seconds) bit for bit", () => {
    const [, , f, h, w] = get("video_latents").shape;
    const positions = videoPositions({ frames: f, height: h, width: w }, config.fps as number);
    expect(Array.from(positions)).toEqual(Array.from(get("video_positions").data));
  });

  it("reproduces audio timings bit for bit", () => {
    const t = get("audio_latents").shape[2];
    expect(Array.from(audioPositions(t))).toEqual(Array.from(get("audio_positions").data));
  });
});

describe("position helpers", () => {
  it("gives first-frame pixel bounds [0,1) and later frames [8f-7, 8f+1)", () => {
    const bounds = videoPatchGridBounds({ frames: 3, height: 1, width: 1 });
    const px = videoPixelPositions(bounds, { causalFix: true });
    // time axis: tokens 0..2, [start, end)
    expect(Array.from(px.subarray(0, 6))).toEqual([0, 1, 1, 9, 9, 17]);
    // height axis scaled by 32
    expect(Array.from(px.subarray(6, 12))).toEqual([0, 32, 0, 32, 0, 32]);
  });

  it("patchifies with a spatial patch size and inverts it", () => {
    const grid = { frames: 2, height: 4, width: 2 };
    const latents = Float32Array.from({ length: 3 * 2 * 4 * 2 }, (_, i) => i);
    const tokens = patchifyVideo(latents, 3, grid, 2);
    expect(tokens.length).toBe(latents.length);
    expect(Array.from(unpatchifyVideo(tokens, 3, grid, 2))).toEqual(Array.from(latents));
    // token 0 = frame 0, rows 0-1, cols 0-1 of channel 0 first
    expect(Array.from(tokens.subarray(0, 4))).toEqual([0, 1, 2, 3]);
  });

  it("gives 25 audio tokens per second with causal timings", () => {
    const p = audioPositions(3);
    expect(p[0]).toBe(0);
    expect(p[1]).toBeCloseTo(0.01, 7);
    expect(p[2]).toBeCloseTo(0.01, 7);
    expect(p[3]).toBeCloseTo(0.05, 7);
  });
});
