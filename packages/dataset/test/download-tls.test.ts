import { type ChildProcess, execFile, spawn } from "node:child_process";
import { readFile } from "node:fs/promises";
import { createServer, type Server } from "node:https";
import { type AddressInfo, connect, type Socket } from "node:net";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { DatasetErrorCodes, loadDataset } from "../src/index.js";
import { rejection } from "./helpers/expect.js";
import { type Fixtures, makeFixtures, tempDir } from "./helpers/media.js";
import { writeZip } from "./helpers/zip.js";

const run = promisify(execFile);
const onLoopback = { allowPrivateNetwork: true, numberOfFrames: 17 } as const;
let fx: Fixtures;
let certs: { dir: string; remove: () => Promise<void> };
let server: Server;
let base: string;

beforeAll(async () => {
  fx = await makeFixtures();
  const zip = await readFile(
    await writeZip(join(fx.dir, "served.zip"), [
      { name: "a_start.png", file: fx.png },
      { name: "a_audio.wav", file: fx.wav },
      { name: "a_end.mp4", file: fx.end17 },
      { name: "a.txt", content: "served over https" },
    ]),
  );
  // A self-signed certificate for the loopback address, made fresh for this run.
  certs = await tempDir("a2v-tls-");
  const [key, cert] = [join(certs.dir, "key.pem"), join(certs.dir, "cert.pem")];
  await run("openssl", [
    ...["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-keyout", key, "-out", cert],
    ...["-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
  ]);
  server = createServer({ key: await readFile(key), cert: await readFile(cert) }, (req, res) => {
    if (req.url === "/dataset.zip") res.writeHead(200, { "content-length": zip.length }).end(zip);
    else res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  base = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
}, 60_000);

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
  await certs.remove();
  await fx.remove();
});

describe("https download", () => {
  test("a certificate the system does not trust fails as download_failed naming the TLS error", async () => {
    const error = await rejection(loadDataset(`${base}/dataset.zip`, onLoopback));
    expect(error.code).toBe(DatasetErrorCodes.downloadFailed);
    expect(error.message).toMatch(/self-signed certificate/);
  });

  test("a trusted certificate downloads and validates the archive", async () => {
    // Trust comes from NODE_EXTRA_CA_CERTS, which Node reads at start-up: run the built package in a child.
    const entry = fileURLToPath(new URL("../dist/index.js", import.meta.url));
    const script = `import(${JSON.stringify(entry)}).then(async (m) => {
      const manifest = await m.loadDataset(${JSON.stringify(`${base}/dataset.zip`)}, ${JSON.stringify(onLoopback)});
      console.log(JSON.stringify({ ok: manifest.counts.ok, bytes: manifest.archive.bytes }));
    });`;
    const env = { ...process.env, NODE_EXTRA_CA_CERTS: join(certs.dir, "cert.pem") };
    const { stdout } = await run(process.execPath, ["--input-type=module", "-e", script], { env, timeout: 60_000 });
    expect(JSON.parse(stdout)).toEqual({ ok: 1, bytes: expect.any(Number) });
  });
});

describe("connect timeout", () => {
  let listener: ChildProcess;
  const sockets: Socket[] = [];
  afterAll(() => {
    for (const s of sockets) s.destroy();
    listener?.kill();
  });

  test("a host that never completes the TCP handshake hits connect timeout, not the read timeout", async () => {
    // A socket listening with backlog 0 that never accepts: once one connection waits in its accept queue,
    // the kernel drops further SYNs, so the next connect hangs like one to a black-holed address.
    listener = spawn("python3", [
      "-c",
      "import socket,time\ns=socket.socket()\ns.bind(('127.0.0.1',0))\ns.listen(0)\nprint(s.getsockname()[1],flush=True)\ntime.sleep(60)",
    ]);
    const port = await new Promise<number>((resolve) =>
      listener.stdout!.once("data", (d) => resolve(Number(String(d)))),
    );
    const first = connect(port, "127.0.0.1");
    sockets.push(first);
    await new Promise((resolve) => first.once("connect", resolve));
    const error = await rejection(
      loadDataset(`http://127.0.0.1:${port}/x.zip`, {
        ...onLoopback,
        download: { connectTimeoutMs: 300, readTimeoutMs: 10_000 },
      }),
    );
    expect(error.code).toBe(DatasetErrorCodes.downloadFailed);
    expect(error.message).toContain("connect timed out after 300 ms");
  });
});
