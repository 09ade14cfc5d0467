import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { extname, join } from "node:path";
import { mediaTools } from "@a2v/audio";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { conditioningAudio, fetchMedia } from "../../src/validation/media.js";

let dir: string;
let wav: string;
let server: Server;
let base: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "a2v-media-"));
  wav = join(dir, "tone.wav");
  execFileSync(mediaTools().ffmpeg.path, ["-v", "error", "-f", "lavfi", "-i", "sine=frequency=440:duration=2", wav]);
  const body = readFileSync(wav);
  server = createServer((_, res) => res.end(body));
  await new Promise<void>((done) => server.listen(0, "127.0.0.1", () => done()));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise((done) => server.close(done));
  await rm(dir, { recursive: true, force: true });
});

describe("validation media", () => {
  it("reads paths and file:// URLs, downloads http(s) with the dataset's guard, refuses other schemes", async () => {
    expect(await fetchMedia(wav, { workDir: dir })).toBe(wav);
    expect(await fetchMedia(`file://${wav}`, { workDir: dir })).toBe(wav);
    await expect(fetchMedia(join(dir, "missing.wav"), { workDir: dir })).rejects.toMatchObject({
      code: "validation_media_unreadable",
    });
    await expect(fetchMedia("ftp://example.com/a.wav", { workDir: dir })).rejects.toMatchObject({
      code: "validation_media_unreadable",
    });
    // 127.0.0.1 is private: refused unless allowed (the SSRF guard), then downloaded keeping the extension.
    await expect(fetchMedia(`${base}/voice.wav?sig=secret`, { workDir: dir })).rejects.toThrow();
    const local = await fetchMedia(`${base}/voice.wav?sig=secret`, { workDir: dir, allowPrivateNetwork: true });
    expect(extname(local)).toBe(".wav");
    expect(readFileSync(local)).toEqual(readFileSync(wav));
  });

  it("prepares the conditioning audio as training does: 16 kHz stereo, exactly the clip's samples, peak-normalised", async () => {
    const fitted = await conditioningAudio(wav, 25 / 24);
    expect(fitted).toHaveLength(2);
    expect(fitted[0]!.length).toBe(Math.round((25 / 24) * 16000));
    const peak = Math.max(...fitted[0]!.map(Math.abs));
    expect(peak).toBeCloseTo(10 ** (-1 / 20), 1);
    const trimmed = await conditioningAudio(wav, 0.5, { preservePitch: false, normalize: false });
    expect(trimmed[0]!.length).toBe(8000);
  });
});
