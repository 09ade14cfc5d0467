import { existsSync, readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import puppeteer, { type Browser } from "puppeteer-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { writePreviewMp4 } from "../../src/validation/media.js";
import { makeReel, probeMediaInfo } from "../../src/validation/reel.js";

/** Debian's chromium package (scripts/setup.sh installs it); `$A2V_CHROMIUM` overrides. */
const CHROMIUM = process.env.A2V_CHROMIUM ?? "/usr/bin/chromium";
const [W, H, FRAMES, FPS] = [160, 96, 17, 24];

/** What the page reports (the probe runs in the browser, written as a string: this package has no DOM types). */
interface BrowserProbe {
  canPlay: string;
  duration: number;
  width: number;
  height: number;
  frames: { time: number; lit: number; mean: number; bandLit: number }[];
  audioBytes?: number;
  videoBytes?: number;
}

let dir: string;
let reel: string;
let server: Server;
let browser: Browser;

/** A preview like the sampler's: moving colour bars and a tone, H.264 + AAC. */
async function preview(file: string, hue: number): Promise<void> {
  const frames = Array.from({ length: FRAMES }, (_, f) => {
    const rgb = new Uint8Array(W * H * 3);
    for (let y = 0; y < H; y++)
      for (let x = 0; x < W; x++) {
        const i = (y * W + x) * 3;
        rgb[i] = (x * 2 + f * 8 + hue) & 255;
        rgb[i + 1] = (y * 2 + hue) & 255;
        rgb[i + 2] = 200;
      }
    return rgb;
  });
  const n = Math.round((FRAMES / FPS) * 16000);
  const tone = Float32Array.from({ length: n }, (_, i) => 0.4 * Math.sin((2 * Math.PI * 330 * i) / 16000));
  await writePreviewMp4(frames, W, H, FPS, { pcm: [tone, tone.slice()], sampleRate: 16000 }, file);
}

/** Serves the reel with byte ranges, as a web server would (media elements seek with Range requests). */
function serve(file: string): Promise<Server> {
  const body = readFileSync(file);
  const s = createServer((req, res) => {
    if (req.url === "/") {
      res.writeHead(200, { "content-type": "text/html" });
      res.end("<!doctype html><title>reel</title><body></body>");
      return;
    }
    const range = /bytes=(\d+)-(\d*)/.exec(req.headers.range ?? "");
    if (range) {
      const start = Number(range[1]);
      const end = range[2] ? Number(range[2]) : body.length - 1;
      res.writeHead(206, {
        "content-type": "video/mp4",
        "accept-ranges": "bytes",
        "content-range": `bytes ${start}-${end}/${body.length}`,
        "content-length": end - start + 1,
      });
      res.end(body.subarray(start, end + 1));
    } else {
      res.writeHead(200, { "content-type": "video/mp4", "accept-ranges": "bytes", "content-length": body.length });
      res.end(body);
    }
  });
  return new Promise((done) => s.listen(0, "127.0.0.1", () => done(s)));
}

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: run scripts/setup.sh (Debian package chromium)`);
  dir = await mkdtemp(join(tmpdir(), "a2v-reel-chromium-"));
  await preview(join(dir, "a.mp4"), 0);
  await preview(join(dir, "b.mp4"), 120);
  reel = join(dir, "reel.mp4");
  await makeReel(
    [
      { file: join(dir, "a.mp4"), step: 100, prompt: "a2v a person speaks to the camera" },
      { file: join(dir, "b.mp4"), step: 200, prompt: "a2v a person speaks to the camera" },
    ],
    reel,
  );
  server = await serve(reel);
  browser = await puppeteer.launch({
    executablePath: CHROMIUM,
    headless: true,
    // Root in containers needs --no-sandbox; media may play without a click.
    args: ["--no-sandbox", "--autoplay-policy=no-user-gesture-required", "--mute-audio"],
  });
}, 300_000);

afterAll(async () => {
  await browser?.close();
  await new Promise((done) => (server ? server.close(done) : done(undefined)));
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe("the reel in headless Chromium", () => {
  it("plays: H.264 + AAC is supported, duration and size are the reel's, frames decode (seek + canvas)", async () => {
    const info = await probeMediaInfo(reel);
    const page = await browser.newPage();
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    await page.goto(`${url}/`);
    const result = (await page.evaluate(
      `(async (src, previewHeight) => {
      const video = document.createElement("video");
      video.muted = true;
      video.preload = "auto";
      video.src = src;
      document.body.append(video);
      const canPlay = video.canPlayType('video/mp4; codecs="avc1.64001e, mp4a.40.2"');
      await new Promise((resolve, reject) => {
        video.onloadeddata = () => resolve();
        video.onerror = () => reject(new Error(\`media error \${video.error && video.error.code}: \${video.error && video.error.message}\`));
      });
      const canvas = document.createElement("canvas");
      canvas.width = video.videoWidth;
      canvas.height = video.videoHeight;
      const context = canvas.getContext("2d", { willReadFrequently: true });
      const frames = [];
      for (const time of [0.05, video.duration / 2 - 0.05, video.duration - 0.1]) {
        video.currentTime = time;
        await new Promise((resolve) => {
          video.onseeked = resolve;
        });
        context.drawImage(video, 0, 0);
        const { data } = context.getImageData(0, 0, canvas.width, canvas.height);
        const bandRows = canvas.height - previewHeight;
        let lit = 0;
        let sum = 0;
        let bandLit = 0;
        for (let i = 0; i < data.length; i += 4) {
          const v = data[i] + data[i + 1] + data[i + 2];
          sum += v;
          if (v > 60) lit++;
          if (v > 300 && i / 4 < bandRows * canvas.width) bandLit++;
        }
        frames.push({
          time,
          lit: lit / (data.length / 4),
          mean: sum / (data.length / 4),
          bandLit: bandLit / (bandRows * canvas.width),
        });
      }
      // Play a little to see the audio decoder work too.
      video.currentTime = 0;
      await video.play();
      await new Promise((resolve) => setTimeout(resolve, 500));
      video.pause();
      const audioBytes = video.webkitAudioDecodedByteCount;
      const videoBytes = video.webkitVideoDecodedByteCount;
      return {
        canPlay,
        duration: video.duration,
        width: video.videoWidth,
        height: video.videoHeight,
        frames,
        audioBytes,
        videoBytes,
      };
})(${JSON.stringify(`${url}/reel.mp4`)}, ${H})`,
    )) as BrowserProbe;
    console.log(`chromium ${await browser.version()}: ${JSON.stringify(result)}`);
    expect(result.canPlay).not.toBe("");
    expect(result.width).toBe(W);
    expect(result.height).toBe(info.height);
    expect(result.height).toBeGreaterThan(H);
    // Within one video frame of previews × clip length (AAC pads the end to a 21 ms frame at 48 kHz).
    expect(Math.abs(result.duration - 2 * (FRAMES / FPS))).toBeLessThan(1 / FPS);
    expect(result.duration).toBeCloseTo(info.duration, 2);
    // Below the band the previews' colour bars fill the frame: most pixels are lit.
    for (const f of result.frames) expect(f.lit, `frame at ${f.time}s`).toBeGreaterThan(0.5);
    // The band is black with white text: a few bright pixels, most dark.
    for (const f of result.frames) {
      expect(f.bandLit, `band at ${f.time}s`).toBeGreaterThan(0.01);
      expect(f.bandLit, `band at ${f.time}s`).toBeLessThan(0.5);
    }
    // Frames at different times differ (the previews' bars move): seeking decodes new pictures.
    expect(new Set(result.frames.map((f) => f.mean.toFixed(1))).size).toBe(3);
    expect(result.audioBytes ?? 1).toBeGreaterThan(0);
    expect(result.videoBytes ?? 1).toBeGreaterThan(0);
  }, 300_000);
});
