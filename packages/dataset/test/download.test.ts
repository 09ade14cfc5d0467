import { readFile } from "node:fs/promises";
import { createServer, type Server, type ServerResponse } from "node:http";
import { type AddressInfo, createServer as createNetServer } from "node:net";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { DatasetErrorCodes, type DatasetProgress, isNonPublicAddress, loadDataset } from "../src/index.js";
import { rejection } from "./helpers/expect.js";
import { type Fixtures, makeFixtures } from "./helpers/media.js";
import { leftoversAfter } from "./helpers/tmp.js";
import { writeZip } from "./helpers/zip.js";

let fx: Fixtures;
let zipPath: string;
let zip: Buffer;
let server: Server;
let base: string;
const stalled = new Set<ServerResponse>();

/** Loopback test server: the dataset, redirects, errors, stalls and oversized bodies. */
function route(url: string, res: ServerResponse): void {
  const send = (status: number, headers: Record<string, string | number> = {}, body?: Buffer | string) => {
    res.writeHead(status, headers);
    res.end(body);
  };
  const hop = /^\/hop\/(\d+)$/.exec(url);
  if (url.startsWith("/dataset.zip")) {
    send(200, { "content-length": zip.length }, zip);
  } else if (url === "/chunked.zip") {
    res.writeHead(200);
    res.write(zip.subarray(0, 1000));
    setTimeout(() => res.end(zip.subarray(1000)), 20);
  } else if (hop) {
    const n = Number(hop[1]);
    send(302, { location: n === 0 ? "/dataset.zip" : `/hop/${n - 1}` });
  } else if (url === "/loop") {
    send(301, { location: "/loop" });
  } else if (url === "/to-file") {
    send(302, { location: "file:///etc/passwd" });
  } else if (url === "/stall") {
    stalled.add(res);
  } else if (url === "/stall-body") {
    res.writeHead(200, { "content-length": zip.length });
    res.write(zip.subarray(0, 100));
    stalled.add(res);
  } else if (url === "/trickle") {
    // One byte every 50 ms: never idle long enough for the read timeout.
    res.writeHead(200);
    res.on("error", () => {});
    const timer = setInterval(() => res.write("x"), 50);
    res.on("close", () => clearInterval(timer));
  } else if (url === "/endless") {
    streamZeros(res, Number.POSITIVE_INFINITY);
  } else if (url === "/huge") {
    send(200, { "content-length": 50_000_000 }, "x");
  } else if (url === "/huge-chunked") {
    streamZeros(res, 4_000_000);
  } else if (url === "/short") {
    res.writeHead(200, { "content-length": 100_000 });
    res.end(zip.subarray(0, 500));
  } else {
    send(404, {}, "not here");
  }
}

/** A chunked body of `total` zero bytes, honouring backpressure (the client may hang up early). */
function streamZeros(res: ServerResponse, total: number): void {
  res.writeHead(200);
  res.on("error", () => {});
  const chunk = Buffer.alloc(64 * 1024);
  let sent = 0;
  const pump = () => {
    while (sent < total && res.write(chunk)) sent += chunk.length;
    if (sent < total) res.once("drain", pump);
    else res.end();
  };
  pump();
}

beforeAll(async () => {
  fx = await makeFixtures();
  zipPath = await writeZip(join(fx.dir, "served.zip"), [
    { name: "a_start.png", file: fx.png },
    { name: "a_audio.wav", file: fx.wav },
    { name: "a_end.mp4", file: fx.end17 },
    { name: "a.txt", content: "served over http" },
  ]);
  zip = await readFile(zipPath);
  server = createServer((req, res) => route(req.url ?? "/", res));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  for (const res of stalled) res.destroy();
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
  await fx.remove();
});

const onLoopback = { allowPrivateNetwork: true, numberOfFrames: 17 } as const;

describe("http(s) download", () => {
  test("streams the archive, reporting progress, then validates it", async () => {
    const events: DatasetProgress[] = [];
    const manifest = await loadDataset(`${base}/dataset.zip`, { ...onLoopback, onProgress: (e) => events.push(e) });
    expect(manifest.counts.ok).toBe(1);
    expect(manifest.archive.bytes).toBe(zip.length);
    const downloads = events.filter((e) => e.phase === "download");
    expect(downloads.at(-1)).toEqual({ phase: "download", bytes: zip.length, totalBytes: zip.length });
    expect(events.filter((e) => e.phase === "extract").map((e) => e.done)).toEqual([1, 2, 3, 4]);
    expect(events.filter((e) => e.phase === "probe")).toHaveLength(3);
  });

  test("works without Content-Length and follows redirects up to the limit", async () => {
    const chunked = await loadDataset(`${base}/chunked.zip`, onLoopback);
    expect(chunked.archive.bytes).toBe(zip.length);
    const redirected = await loadDataset(`${base}/hop/2`, { ...onLoopback, download: { maxRedirects: 3 } });
    expect(redirected.counts.ok).toBe(1);
    const tooMany = await rejection(loadDataset(`${base}/hop/3`, { ...onLoopback, download: { maxRedirects: 3 } }));
    expect(tooMany.code).toBe(DatasetErrorCodes.downloadFailed);
    expect(tooMany.message).toContain("more than 3 redirects");
    const loop = await rejection(loadDataset(`${base}/loop`, onLoopback));
    expect(loop.message).toContain("more than 5 redirects");
  });

  test("failures are download_failed (status 400) naming the URL and the cause", async () => {
    const missing = await rejection(loadDataset(`${base}/nothing.zip?token=secret`, onLoopback));
    expect(missing.code).toBe(DatasetErrorCodes.downloadFailed);
    expect(missing.status).toBe(400);
    expect(missing.message).toBe(`could not download ${base}/nothing.zip?…: HTTP 404 Not Found`);
    expect(missing.message).not.toContain("secret");
    expect(missing.details[0]).toMatchObject({ code: "download_failed", file: `${base}/nothing.zip?…` });

    const toFile = await rejection(loadDataset(`${base}/to-file`, onLoopback));
    expect(toFile.message).toContain("unsupported scheme file:");

    const short = await rejection(loadDataset(`${base}/short`, onLoopback));
    expect(short.code).toBe(DatasetErrorCodes.downloadFailed);

    const refused = await rejection(loadDataset("http://127.0.0.1:1/x.zip", onLoopback));
    expect(refused.message).toContain("ECONNREFUSED");
  });

  test("a silent server hits the read timeout, before and during the body", async () => {
    const limits = { ...onLoopback, download: { readTimeoutMs: 300 } };
    const headers = await rejection(loadDataset(`${base}/stall`, limits));
    expect(headers.code).toBe(DatasetErrorCodes.downloadFailed);
    expect(headers.message).toContain("no data for 300 ms (read timeout)");
    const body = await rejection(loadDataset(`${base}/stall-body`, limits));
    expect(body.message).toContain("read timeout");
  });

  test("a trickling body is stopped by the minimum rate, an endless fast one by the deadline", async () => {
    const started = Date.now();
    const slow = await rejection(
      loadDataset(`${base}/trickle`, { ...onLoopback, download: { minBytesPerSecond: 1000, rateWindowMs: 400 } }),
    );
    expect(slow.code).toBe(DatasetErrorCodes.downloadFailed);
    expect(slow.message).toMatch(/the transfer is slower than 1000 bytes\/s \(\d+ bytes\/s over the last 400 ms\)$/);
    const endless = await rejection(loadDataset(`${base}/endless`, { ...onLoopback, download: { deadlineMs: 700 } }));
    expect(endless.code).toBe(DatasetErrorCodes.downloadFailed);
    expect(endless.message).toContain("the download took longer than its 700 ms deadline");
    expect(Date.now() - started).toBeLessThan(5000);
  });

  test("headers dripped a byte at a time hit the headers timeout and the deadline", async () => {
    const drip = createNetServer((socket) => {
      const text = "HTTP/1.1 200 OK\r\nContent-Type: application/zip\r\nX-Pad: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n";
      let i = 0;
      const timer = setInterval(() => socket.write(text[i++ % text.length]!), 40);
      socket.on("close", () => clearInterval(timer));
      socket.on("error", () => {});
    });
    await new Promise<void>((resolve) => drip.listen(0, "127.0.0.1", resolve));
    const url = `http://127.0.0.1:${(drip.address() as AddressInfo).port}/a.zip`;
    try {
      const headers = await rejection(loadDataset(url, { ...onLoopback, download: { headersTimeoutMs: 500 } }));
      expect(headers.message).toContain("no complete response headers within 500 ms");
      const deadline = await rejection(loadDataset(url, { ...onLoopback, download: { deadlineMs: 400 } }));
      expect(deadline.message).toContain("the download took longer than its 400 ms deadline");
    } finally {
      await new Promise((resolve) => drip.close(resolve));
    }
  });

  test("the size cap applies to the declared length and to the bytes actually sent", async () => {
    const capped = { ...onLoopback, caps: { maxArchiveBytes: 1_000_000 } };
    const declared = await rejection(loadDataset(`${base}/huge`, capped));
    expect(declared.code).toBe(DatasetErrorCodes.archiveTooLarge);
    expect(declared.status).toBe(422);
    expect(declared.message).toContain("larger than the 1000000-byte archive cap (50000000 bytes or more)");
    const streamed = await rejection(loadDataset(`${base}/huge-chunked`, capped));
    expect(streamed.code).toBe(DatasetErrorCodes.archiveTooLarge);
  });

  test("the downloaded archive is removed on success and on failure", async () => {
    expect(await leftoversAfter(() => loadDataset(`${base}/dataset.zip`, onLoopback))).toEqual([]);
    expect(
      await leftoversAfter(() =>
        loadDataset(`${base}/stall-body`, { ...onLoopback, download: { readTimeoutMs: 200 } }),
      ),
    ).toEqual([]);
  });
});

describe("private-network guard", () => {
  test("loopback URLs are refused unless the caller opts in", async () => {
    const literal = await rejection(loadDataset(`${base}/dataset.zip`));
    expect(literal.code).toBe(DatasetErrorCodes.downloadFailed);
    expect(literal.message).toContain("127.0.0.1 resolves to 127.0.0.1, a loopback/private/link-local address");
    const port = (server.address() as AddressInfo).port;
    const byName = await rejection(loadDataset(`http://localhost:${port}/dataset.zip`));
    expect(byName.message).toMatch(/localhost resolves to (127\.0\.0\.1|::1)/);
    const v6 = await rejection(loadDataset(`http://[::ffff:127.0.0.1]:${port}/dataset.zip`));
    expect(v6.message).toContain("refused");
  });

  test("the cloud metadata address (link-local) is refused without a connection attempt", async () => {
    const error = await rejection(loadDataset("http://169.254.169.254/latest/meta-data/"));
    expect(error.code).toBe(DatasetErrorCodes.downloadFailed);
    expect(error.message).toContain("169.254.169.254 resolves to 169.254.169.254");
  });

  test("address classification", () => {
    for (const address of [
      "127.0.0.1",
      "10.1.2.3",
      "172.31.255.255",
      "192.168.0.1",
      "169.254.169.254",
      "100.64.0.1",
      "0.0.0.0",
      "224.0.0.1",
      "::1",
      "::",
      "fe80::1",
      "fd00::1",
      "::ffff:127.0.0.1",
      "::ffff:7f00:1",
      "64:ff9b::a00:1",
      "2002:c0a8:0101::1",
      "not-an-ip",
    ]) {
      expect(isNonPublicAddress(address), address).toBe(true);
    }
    for (const address of ["8.8.8.8", "1.1.1.1", "172.32.0.1", "2606:4700:4700::1111", "::ffff:8.8.8.8"]) {
      expect(isNonPublicAddress(address), address).toBe(false);
    }
  });
});

describe("local sources", () => {
  test("a file:// URL and a plain path are read in place", async () => {
    expect((await loadDataset(pathToFileURL(zipPath).href, { numberOfFrames: 17 })).counts.ok).toBe(1);
    expect((await loadDataset(zipPath, { numberOfFrames: 17 })).source).toBe(zipPath);
  });

  test("a missing file, a folder and an unknown scheme are download_failed", async () => {
    const missing = await rejection(loadDataset(join(fx.dir, "nope.zip")));
    expect(missing.code).toBe(DatasetErrorCodes.downloadFailed);
    expect(missing.message).toContain("no such file");
    const folder = await rejection(loadDataset(fx.dir));
    expect(folder.message).toContain("not a regular file");
    const ftp = await rejection(loadDataset("ftp://example.com/a.zip"));
    expect(ftp.message).toContain("unsupported URL scheme ftp:");
  });
});
