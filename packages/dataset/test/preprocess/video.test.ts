import sharp from "sharp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { decodeFrames, decodeStartImage } from "../../src/preprocess/video.js";
import { ffmpeg, lavfiVideo, near, pixel, psnr, tempDir } from "./fixtures.js";

const RED = [255, 0, 0];
const GREEN = [0, 255, 0];
const BLUE = [0, 0, 255];
const WHITE = [255, 255, 255];

const tmp = tempDir("video");
afterAll(() => tmp.remove());

async function collect(gen: AsyncGenerator<Uint8Array>): Promise<Uint8Array[]> {
  const out: Uint8Array[] = [];
  for await (const frame of gen) out.push(frame.slice());
  return out;
}

/** Four equal bars (red, green, blue, white) side by side, or stacked when `vertical`. */
function bars(w: number, h: number, vertical: boolean, rate = 24, seconds = 1): string {
  const [bw, bh] = vertical ? [w, h / 4] : [w / 4, h];
  const src = (c: string) => `color=${c}:s=${bw}x${bh}:r=${rate}:d=${seconds}`;
  return `${src("red")}[a];${src("lime")}[b];${src("blue")}[c];${src("white")}[d];[a][b][c][d]${vertical ? "v" : "h"}stack=4`;
}

describe("decodeFrames", () => {
  let wide: string;
  let tall: string;
  beforeAll(() => {
    wide = lavfiVideo(tmp.path("wide.mp4"), bars(256, 128, false));
    tall = lavfiVideo(tmp.path("tall.mp4"), bars(128, 256, true));
  });

  it("fills the bucket and center-crops a wide source (no letterbox, no squeeze)", async () => {
    const frames = await collect(decodeFrames(wide, { bucket: { width: 64, height: 64 }, fps: 24, maxFrames: 2 }));
    expect(frames).toHaveLength(2);
    const all = frames[0]!;
    expect(all.length).toBe(64 * 64 * 3);
    // 256x128 -> 128x64, center 64 columns are the green and blue bars, 32 px each.
    expect(near(pixel(all, 64, 64, 0, 12, 32), GREEN)).toBe(true);
    expect(near(pixel(all, 64, 64, 0, 52, 32), BLUE)).toBe(true);
    expect(near(pixel(all, 64, 64, 0, 52, 2), BLUE)).toBe(true);
  });

  it("fills a tall source into a 16:9 bucket by cropping top and bottom", async () => {
    const [frame] = await collect(decodeFrames(tall, { bucket: { width: 64, height: 36 }, fps: 24, maxFrames: 1 }));
    // 128x256 -> 64x128; the center 36 rows (46..82) straddle the green/blue boundary at row 64.
    expect(near(pixel(frame!, 64, 36, 0, 32, 4), GREEN)).toBe(true);
    expect(near(pixel(frame!, 64, 36, 0, 32, 31), BLUE)).toBe(true);
    expect(near(pixel(frame!, 64, 36, 0, 2, 31), BLUE)).toBe(true);
  });

  it("converts the frame rate exactly (30 -> 24 fps over 2 s gives 48 frames)", async () => {
    const src = lavfiVideo(tmp.path("t30.mp4"), "testsrc2=size=96x64:rate=30:duration=2");
    const frames = await collect(decodeFrames(src, { bucket: { width: 32, height: 32 }, fps: 24 }));
    expect(frames).toHaveLength(48);
  });

  it("pads with the last frame to an exact count", async () => {
    const frames = await collect(
      decodeFrames(wide, { bucket: { width: 32, height: 32 }, fps: 24, maxFrames: 40, padToMaxFrames: true }),
    );
    expect(frames).toHaveLength(40);
  });
});

describe("decodeStartImage", () => {
  it("honours EXIF orientation and fills/crops like the video path", async () => {
    // Stored 64x32: left red, right blue. Orientation 6 = rotate 90° clockwise to display -> 32x64, top red.
    const left = await sharp({ create: { width: 32, height: 32, channels: 3, background: "red" } })
      .png()
      .toBuffer();
    const stored = await sharp({ create: { width: 64, height: 32, channels: 3, background: "blue" } })
      .composite([{ input: left, left: 0, top: 0 }])
      .withMetadata({ orientation: 6 })
      .jpeg({ quality: 95 })
      .toFile(tmp.path("rot.jpg"));
    expect(stored.width).toBe(64);
    const image = await decodeStartImage(tmp.path("rot.jpg"), { width: 64, height: 64 });
    expect(near(pixel(image, 64, 64, 0, 32, 8), RED)).toBe(true);
    expect(near(pixel(image, 64, 64, 0, 32, 56), BLUE)).toBe(true);
  });

  it("decodes 16-bit, grayscale and alpha PNGs to 8-bit RGB", async () => {
    for (const pixFmt of ["rgb48be", "gray", "rgba"]) {
      const file = tmp.path(`${pixFmt}.png`);
      ffmpeg("-f", "lavfi", "-i", "color=white:s=40x30", "-frames:v", "1", "-pix_fmt", pixFmt, file);
      const image = await decodeStartImage(file, { width: 16, height: 16 });
      expect(image.length).toBe(16 * 16 * 3);
      expect(near(pixel(image, 16, 16, 0, 8, 8), WHITE)).toBe(true);
    }
  });

  it("uses the first frame of a start video", async () => {
    // Frame 0 is white, later frames red: only the first must come out.
    const src = tmp.path("start.mp4");
    ffmpeg(
      "-f",
      "lavfi",
      "-i",
      "color=white:s=80x48:r=24:d=0.5,trim=end_frame=1[w];color=red:s=80x48:r=24:d=0.5[r];[w][r]concat",
      "-c:v",
      "libx264",
      "-pix_fmt",
      "yuv420p",
      src,
    );
    const image = await decodeStartImage(src, { width: 32, height: 32 });
    expect(near(pixel(image, 32, 32, 0, 16, 16), WHITE)).toBe(true);
  });

  it("fills/crops a PNG like ffmpeg does for video frames (PSNR > 35 dB across implementations)", async () => {
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=320x240", "-frames:v", "1", tmp.path("img.png"));
    const image = await decodeStartImage(tmp.path("img.png"), { width: 96, height: 96 });
    const [viaFfmpeg] = await collect(
      decodeFrames(tmp.path("img.png"), { bucket: { width: 96, height: 96 }, fps: 24 }),
    );
    expect(psnr(image, viaFfmpeg!)).toBeGreaterThan(35);
  });
});
