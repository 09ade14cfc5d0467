import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { decodedToUnitRgb, unitRgbToFrames, videoFromRgbFrames } from "../../src/vae/frames.js";
import { goldenSet, maxAbsErr, readTensors, tensor } from "./golden.js";

const dir = goldenSet("video_vae");

describe("video frames <-> VAE tensors", () => {
  it("maps RGB24 to [-1, 1] channel-major and crops to 1 + 8k frames", () => {
    const frames = Array.from({ length: 11 }, (_, f) =>
      Uint8Array.from({ length: 2 * 1 * 3 }, (_, i) => (f * 20 + i * 40) % 256),
    );
    const video = videoFromRgbFrames(frames, 2, 1);
    expect(video.shape).toEqual([1, 3, 9, 1, 2]);
    // frame 1, pixel 1, green: byte (20 + 4·40) % 256 = 180 -> 180/127.5 - 1.
    expect(video.data[(1 * 9 + 1) * 2 + 1]).toBeCloseTo(180 / 127.5 - 1, 6);
    expect(() => videoFromRgbFrames([new Uint8Array(5)], 2, 1)).toThrow(/frame 0 has 5 bytes/);
  });

  it.skipIf(!dir)("reproduces the golden decode_video post-processing exactly and round-trips to bytes", async () => {
    const t = await readTensors(join(dir!, "tensors.safetensors"));
    const rgb = decodedToUnitRgb(tensor(t, "decoded"));
    expect(maxAbsErr(rgb, tensor(t, "decoded_rgb"))).toBeLessThanOrEqual(1e-7);
    const frames = unitRgbToFrames(rgb);
    expect(frames).toHaveLength(9);
    const back = videoFromRgbFrames(frames, 64, 64);
    const [f, h, w] = [9, 64, 64];
    expect(Math.abs(back.data[0]! - (Math.round(rgb.data[0]! * 255) / 127.5 - 1))).toBeLessThan(1e-6);
    expect(back.shape).toEqual([1, 3, f, h, w]);
  });
});
