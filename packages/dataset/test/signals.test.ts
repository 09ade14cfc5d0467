import { execFileSync } from "node:child_process";
import { EventEmitter } from "node:events";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readdir, rm } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import {
  childProcessIds,
  installSignalCleanup,
  loadDataset,
  preprocessSamples,
  RUN_DIR_PREFIX,
  sweepStaleRunDirs,
} from "../src/index.js";
import { makeVideo, tempDir } from "./helpers/media.js";

let sandbox: string;
let server: Server;
let base: string;
beforeAll(async () => {
  sandbox = await mkdtemp(join(tmpdir(), "a2v-signals-"));
  // Sends a zip's worth of nothing, slowly: the download is still running when the signal comes.
  server = createServer((_req, res) => {
    res.writeHead(200);
    res.on("error", () => {});
    const timer = setInterval(() => res.write(Buffer.alloc(1024)), 20);
    res.on("close", () => clearInterval(timer));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
  await rm(sandbox, { recursive: true, force: true });
});

const host =
  hostname()
    .replace(/[^A-Za-z0-9]/g, "_")
    .slice(0, 32) || "host";

async function until(condition: () => Promise<boolean> | boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await condition())) {
    if (Date.now() > end) throw new Error("condition not met in time");
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe("one temp folder per run", () => {
  test("stale run folders of dead processes of this host are swept; live ones and other hosts' are kept", async () => {
    const parent = await mkdtemp(join(sandbox, "sweep-"));
    const deadPid = Number(execFileSync("sh", ["-c", "echo $$"], { encoding: "utf8" }).trim());
    const dead = join(parent, `${RUN_DIR_PREFIX}${host}-${deadPid}-abc123`);
    const mine = join(parent, `${RUN_DIR_PREFIX}${host}-${process.pid}-def456`);
    const other = join(parent, `${RUN_DIR_PREFIX}otherhost-${deadPid}-ghi789`);
    for (const dir of [dead, mine, other]) await mkdir(join(dir, "files"), { recursive: true });
    expect(await sweepStaleRunDirs(parent)).toEqual([dead]);
    expect((await readdir(parent)).sort()).toEqual([other, mine].map((d) => d.slice(parent.length + 1)).sort());
  });
});

describe("SIGINT/SIGTERM", () => {
  test("during a download: the run folder is removed, then the process exits 143", async () => {
    const parent = await mkdtemp(join(sandbox, "download-"));
    const signals = new EventEmitter();
    const exits: number[] = [];
    const uninstall = installSignalCleanup(() => [], { target: signals, exit: (code) => exits.push(code) });
    try {
      const loading = loadDataset(`${base}/slow.zip`, { allowPrivateNetwork: true, tempDir: parent });
      loading.catch(() => undefined);
      await until(async () => {
        const [run] = await readdir(parent);
        return run !== undefined && existsSync(join(parent, run, "archive.zip"));
      });
      signals.emit("SIGTERM", "SIGTERM");
      expect(exits).toEqual([143]);
      expect(await readdir(parent)).toEqual([]);
    } finally {
      uninstall();
    }
  });

  test("during preprocessing: ffmpeg children are ended and the cache's half-written entry removed, exit 130", async () => {
    const media = tempDir("a2v-signals-media-");
    const { dir, remove } = await media;
    try {
      const clip = await makeVideo(join(dir, "long.mp4"), { frames: 240, size: "320x240", withAudio: true });
      const cacheDir = join(dir, "cache");
      const samples = preprocessSamples([{ name: "g", startFile: clip, endFile: clip, caption: "c" }], {
        bucket: { width: 32, height: 32 },
        numberOfFrames: 9,
        frameRate: 24,
        windows: "all",
        cacheDir,
      });
      const first = await samples.next();
      expect(first.done).toBe(false);
      // ffmpeg is paused on a full pipe, waiting for the next pull.
      expect(childProcessIds().length).toBeGreaterThan(0);
      expect((await readdir(cacheDir)).some((name) => name.startsWith(".tmp-"))).toBe(true);
      const signals = new EventEmitter();
      const exits: number[] = [];
      const uninstall = installSignalCleanup(() => [], { target: signals, exit: (code) => exits.push(code) });
      signals.emit("SIGINT", "SIGINT");
      uninstall();
      expect(exits).toEqual([130]);
      await until(() => childProcessIds().length === 0);
      expect((await readdir(cacheDir)).filter((name) => name.startsWith(".tmp-"))).toEqual([]);
      await samples.return(undefined).catch(() => undefined);
    } finally {
      await remove();
    }
  });
});
