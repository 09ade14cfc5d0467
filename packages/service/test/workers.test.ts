import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Redis } from "ioredis";
import puppeteer from "puppeteer-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeArchive } from "../../sdk/test/helpers/dataset.js";
import { createApi, createApiKey, type ServiceApi, type Status, verifyWebhook } from "../src/index.js";
import { serveFiles } from "./helpers/http.js";
import { startRedis, type TestRedis } from "./helpers/redis.js";

// Real Redis, the API on loopback and real worker processes (the built a2v-service bin) training the tiny model.
/** Debian's chromium package (scripts/setup.sh installs it); `$A2V_CHROMIUM` overrides. */
const CHROMIUM = process.env.A2V_CHROMIUM ?? "/usr/bin/chromium";
const bin = fileURLToPath(new URL("../dist/bin.js", import.meta.url));
const prefix = "t-work";

let redisServer: TestRedis;
let redis: Redis;
let api: ServiceApi;
let base = "";
let dir = "";
let store = "";
let cacheDir = "";
let files: { url: string; close(): Promise<void> };
let keyA = "";
let keyB = "";
/** Webhook deliveries received: body text and signature header. */
const hooks: { body: string; signature: string }[] = [];
let hookServer: Server;
let hookUrl = "";
const workers = new Map<string, { child: ChildProcess; log: string[] }>();

/** The smallest job the service accepts: 100 steps, 9 frames at 512×288. */
const input = () => ({
  training_data_url: `${files.url}/dataset.zip`,
  trigger_phrase: "zxq style",
  number_of_steps: 100,
  learning_rate: 0.001,
  rank: 8,
  resolution: "low",
  aspect_ratio: "16:9",
  number_of_frames: 9,
});

function startWorkerProcess(name: string): ChildProcess {
  const args = [
    ...[bin, "worker", "--redis", redisServer.url, "--store", store, "--prefix", prefix, "--name", name],
    ...["--cache-dir", cacheDir, "--checkpoint-every", "20", "--seed", "7", "--allow-private-network"],
    ...["--webhook-secret", "s3cret"],
    // A dead worker's job is retried after 10 s (production: 300 s).
    ...["--lock-duration", "10000", "--stalled-interval", "2000", "--poll", "300"],
  ];
  const child = spawn(process.execPath, args, { stdio: ["ignore", "ignore", "pipe"] });
  const log: string[] = [];
  child.stderr!.on("data", (d) => log.push(String(d)));
  workers.set(name, { child, log });
  return child;
}

const exited = (child: ChildProcess) =>
  new Promise<number | null>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve(child.exitCode ?? 128 + 9);
    else child.once("exit", (code, signal) => resolve(code ?? (signal === "SIGKILL" ? 137 : null)));
  });

async function http(method: string, path: string, key: string, body?: unknown) {
  const res = await fetch(path.startsWith("http") ? path : `${base}${path}`, {
    method,
    headers: { authorization: `Key ${key}`, ...(body ? { "content-type": "application/json" } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  return Object.assign(res, {
    // biome-ignore lint/suspicious/noExplicitAny: response bodies are checked by the assertions
    data: () => res.json() as Promise<any>,
  });
}
const status = async (id: string, key = keyA): Promise<Status> =>
  (await http("GET", `/a2v/requests/${id}/status?logs=1`, key)).data() as Promise<Status>;

/** Polls the status until `done` holds (every 250 ms). */
async function waitFor(id: string, done: (s: Status) => boolean, timeoutMs: number, seen?: Status[]): Promise<Status> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const s = await status(id);
    seen?.push(s);
    if (done(s)) return s;
    if (Date.now() > end)
      throw new Error(`timed out; last status ${JSON.stringify({ ...s, logs: s.logs?.slice(-5) })}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}
const finished = (s: Status) => s.status === "COMPLETED" || s.status === "FAILED";

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "a2v-service-"));
  store = join(dir, "store");
  cacheDir = join(dir, "cache");
  const archive = await makeArchive(join(dir, "data"), [
    { name: "ball", source: "testsrc2", frames: 17, tone: 330, caption: "a test pattern drifting" },
    { name: "fractal", source: "mandelbrot", frames: 12, tone: 520 },
  ]);
  // A group without its conditioning audio: the dataset rules reject it (422).
  const bad = await makeArchive(join(dir, "bad"), [{ name: "mute", source: "testsrc2", frames: 17 }]);
  const { rename } = await import("node:fs/promises");
  await rename(bad, join(dir, "bad", "bad.zip"));
  files = await serveFiles([archive, join(dir, "bad", "bad.zip")]);
  hookServer = createServer((req, res) => {
    let body = "";
    req.on("data", (d) => {
      body += d;
    });
    req.on("end", () => {
      hooks.push({ body, signature: String(req.headers["x-a2v-signature"]) });
      // The first delivery fails: the worker retries it.
      res.writeHead(hooks.length === 1 ? 503 : 200).end();
    });
  });
  await new Promise<void>((r) => hookServer.listen(0, "127.0.0.1", r));
  hookUrl = `http://127.0.0.1:${(hookServer.address() as { port: number }).port}/hook`;
  redisServer = await startRedis();
  redis = new Redis(redisServer.url);
  keyA = (await createApiKey(redis, prefix, { name: "a" })).key;
  keyB = (await createApiKey(redis, prefix, { name: "b" })).key;
  api = await createApi({ redisUrl: redisServer.url, store, prefix, ssePollMs: 200 });
  base = await api.app.listen({ port: 0, host: "127.0.0.1" });
  startWorkerProcess("w1");
}, 120_000);

afterAll(async () => {
  for (const { child } of workers.values()) {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 20_000);
      await exited(child);
      clearTimeout(timer);
    }
  }
  await api?.close();
  await redis?.quit();
  await redisServer?.stop();
  await files?.close();
  await new Promise((r) => (hookServer ? hookServer.close(r) : r(undefined)));
  await rm(dir, { recursive: true, force: true });
}, 60_000);

let first = "";
let firstLora: Buffer;

describe("workers training on the tiny model", () => {
  it("submit → status (queue, progress over SSE and polls) → outputs as URLs with the billing", async () => {
    const submitted = await (await http("POST", `/a2v?webhook=${encodeURIComponent(hookUrl)}`, keyA, input())).data();
    first = submitted.request_id;
    // Server-sent events on the status resource, until COMPLETED.
    const sse = (async () => {
      const res = await fetch(submitted.status_url, {
        headers: { authorization: `Key ${keyA}`, accept: "text/event-stream" },
      });
      expect(res.headers.get("content-type")).toContain("text/event-stream");
      const text = await res.text();
      return text
        .split("\n\n")
        .filter((l) => l.startsWith("data: "))
        .map((l) => JSON.parse(l.slice(6)) as Status);
    })();
    const seen: Status[] = [];
    const end = await waitFor(first, finished, 480_000, seen);
    expect(end, JSON.stringify(end.error)).toMatchObject({ status: "COMPLETED", billing: { units: 100, usd: 0.6 } });
    const training = seen.find((s) => s.status === "IN_PROGRESS" && s.stage === "train" && s.step !== undefined);
    expect(training).toMatchObject({ steps: 100 });
    expect(training!.loss).toBeGreaterThan(0);
    expect(training!.eta_seconds).toBeGreaterThanOrEqual(0);
    expect(end.logs!.map((l) => l.message).join("\n")).toMatch(/step 100\/100 loss/);
    const events = await sse;
    expect(events.at(-1)!.status).toBe("COMPLETED");
    expect(events.some((e) => e.status === "IN_PROGRESS")).toBe(true);

    const result = await (await http("GET", submitted.response_url, keyA)).data();
    expect(result.billing).toEqual({ units: 100, usd: 0.6 });
    expect(result.lora_file).toMatchObject({
      file_name: "lora_weights.safetensors",
      content_type: "application/octet-stream",
    });
    expect(result.config_file.file_name).toBe("config.json");
    const lora = await http("GET", result.lora_file.url, keyA);
    expect(lora.status).toBe(200);
    firstLora = Buffer.from(await lora.arrayBuffer());
    expect(firstLora.length).toBe(result.lora_file.file_size);
    const config = await (await http("GET", result.config_file.url, keyA)).data();
    expect(config).toMatchObject({ trigger_phrase: "zxq style", training_type: "a2v" });

    // Another key sees neither the request nor its files.
    expect((await http("GET", submitted.status_url, keyB)).status).toBe(404);
    expect((await http("GET", submitted.response_url, keyB)).status).toBe(404);
    expect((await http("GET", result.lora_file.url, keyB)).status).toBe(404);
    expect((await http("GET", result.lora_file.url, "nokey")).status).toBe(401);

    // The signed webhook: its first delivery got a 503 and was retried.
    const deadline = Date.now() + 20_000;
    while (hooks.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    expect(hooks).toHaveLength(2);
    expect(hooks[1]!.body).toBe(hooks[0]!.body);
    expect(verifyWebhook("s3cret", hooks[1]!.body, hooks[1]!.signature)).toBe(true);
    expect(JSON.parse(hooks[1]!.body)).toEqual({
      request_id: first,
      status: "OK",
      payload: { billing: { units: 100, usd: 0.6 } },
    });
  }, 600_000);

  it("a rejected dataset fails with its 422 code at once (not retried), billed 0", async () => {
    const id = (
      await (await http("POST", "/a2v", keyA, { ...input(), training_data_url: `${files.url}/bad.zip` })).data()
    ).request_id;
    const end = await waitFor(id, finished, 180_000);
    expect(end).toMatchObject({ status: "FAILED", error: { status: 422 }, billing: { units: 0, usd: 0 } });
    expect(end.error!.details.map((d) => d.code)).toContain("missing_audio");
    const job = await api.queue.getJob(id);
    expect(job!.attemptsMade).toBe(1);
    expect(existsSync(join(store, "requests", id, "attempt-002"))).toBe(false);
    const res = await http("GET", `/a2v/requests/${id}`, keyA);
    expect(res.status).toBe(422);
  }, 200_000);

  it("drained by SIGTERM, then its next worker SIGKILLed: a third worker resumes from the checkpoint and ends with the uninterrupted LoRA", async () => {
    startWorkerProcess("w2");
    const id = (await (await http("POST", "/a2v", keyA, input())).data()).request_id as string;
    const progressOf = async () => ((await api.queue.getJob(id))!.progress ?? {}) as { worker?: string };
    // First attempt: SIGTERM its worker after the step-20 checkpoint; the job goes back to the queue.
    const s1 = await waitFor(id, (s) => (s.step ?? 0) >= 22 || finished(s), 480_000);
    expect(s1.status).toBe("IN_PROGRESS");
    const drained = (await progressOf()).worker!;
    const drainedChild = workers.get(drained)!.child;
    drainedChild.kill("SIGTERM");
    expect(await exited(drainedChild)).toBe(143);
    // Second attempt on the other worker: SIGKILL it after the step-40 checkpoint.
    const s2 = await waitFor(id, (s) => ((s.attempt ?? 0) >= 2 && (s.step ?? 0) >= 42) || finished(s), 480_000);
    expect(s2.status).toBe("IN_PROGRESS");
    const killed = (await progressOf()).worker!;
    expect(killed).not.toBe(drained);
    const killedChild = workers.get(killed)!.child;
    killedChild.kill("SIGKILL");
    await exited(killedChild);
    // A third worker finds the stalled job once its lock lapses and resumes it.
    startWorkerProcess("w3");
    const end = await waitFor(id, finished, 480_000);
    expect(end, JSON.stringify(end.error)).toMatchObject({ status: "COMPLETED", billing: { units: 100, usd: 0.6 } });
    const logs = end.logs!.map((l) => l.message).join("\n");
    expect(logs).toMatch(/draining/);
    expect(logs).toMatch(/attempt 3 on w3, resuming from the last checkpoint/);
    const attempts = (await readdir(join(store, "requests", id))).filter((n) => n.startsWith("attempt-"));
    expect(attempts.sort()).toEqual(["attempt-001", "attempt-002", "attempt-003"]);
    // The attempt that finished trained only from step 40 on, and its LoRA is the uninterrupted run's.
    const result = await (await http("GET", `/a2v/requests/${id}`, keyA)).data();
    expect(result.lora_file.url).toContain(id);
    const lora = Buffer.from(await (await http("GET", result.lora_file.url, keyA)).arrayBuffer());
    expect(lora.equals(firstLora)).toBe(true);
    expect(await readFile(join(store, "requests", id, "attempt-003", "FENCE"), "utf8")).toMatch(/^3 w3/);
  }, 900_000);

  it("the web console in headless Chromium: a form built from the input schema submits a training and shows it completed", async () => {
    const browser = await puppeteer.launch({ executablePath: CHROMIUM, headless: true, args: ["--no-sandbox"] });
    try {
      const page = await browser.newPage();
      await page.goto(`${base}/`);
      await page.evaluate(`localStorage.setItem("a2v-key", ${JSON.stringify(keyA)})`);
      await page.reload();
      await page.waitForSelector('#form [name="number_of_steps"]');
      // Fields, defaults and ranges come from the schema.
      const field = (name: string) =>
        page.evaluate(`(() => { const e = document.querySelector('#form [name="${name}"]');
          return { tag: e.tagName, type: e.type, value: e.value, min: e.min, max: e.max,
            options: e.tagName === "SELECT" ? [...e.options].map((o) => o.value) : [] }; })()`);
      expect(await field("number_of_steps")).toMatchObject({ value: "2000", min: "100", max: "20000" });
      expect(await field("rank")).toMatchObject({
        tag: "SELECT",
        value: "32",
        options: ["8", "16", "32", "64", "128"],
      });
      expect(await field("debug_dataset")).toMatchObject({ type: "checkbox" });
      const fill = async (values: Record<string, string>) => {
        for (const [name, value] of Object.entries(values))
          await page.evaluate(`document.querySelector('#form [name="${name}"]').value = ${JSON.stringify(value)}`);
      };
      const submit = async () => {
        await page.evaluate(`document.getElementById("result").textContent = ""`);
        await page.click("#form button[type=submit]");
        await page.waitForFunction(`document.getElementById("result").textContent !== ""`, { timeout: 20_000 });
        return (await page.evaluate(`document.getElementById("result").textContent`)) as string;
      };
      const i = input();
      await fill({ training_data_url: "file:///etc/passwd" });
      expect(await submit()).toMatch(/training_data_url must be an http\(s\) URL/);
      await fill({
        training_data_url: i.training_data_url,
        trigger_phrase: i.trigger_phrase,
        number_of_steps: "100",
        learning_rate: "0.001",
        rank: "8",
        resolution: "low",
        aspect_ratio: "16:9",
        number_of_frames: "9",
      });
      const text = await submit();
      expect(text).toMatch(/^submitted /);
      const id = text.slice("submitted ".length);
      await page.waitForFunction(
        `!!document.querySelector('tr[data-id="${id}"][data-status="COMPLETED"] a[data-url]')`,
        {
          timeout: 480_000,
          polling: 1000,
        },
      );
      expect(await page.evaluate(`!!document.querySelector('tr[data-id="${id}"] svg.loss polyline')`)).toBe(true);
      const links = await page.evaluate(
        `[...document.querySelectorAll('tr[data-id="${id}"] a[data-url]')].map((a) => a.textContent)`,
      );
      expect(links).toEqual(["lora_file", "config_file"]);
      // The form sent the same input as the first request: the same LoRA.
      const result = await (await http("GET", `/a2v/requests/${id}`, keyA)).data();
      const lora = Buffer.from(await (await http("GET", result.lora_file.url, keyA)).arrayBuffer());
      expect(lora.equals(firstLora)).toBe(true);
    } finally {
      await browser.close();
    }
  }, 600_000);

  it("cancels a running training: it stops at its next step or stage boundary, FAILED with code cancelled, billed 0", async () => {
    const id = (await (await http("POST", "/a2v", keyA, input())).data()).request_id as string;
    await waitFor(id, (s) => s.status === "IN_PROGRESS" || finished(s), 120_000);
    const r = await http("PUT", `/a2v/requests/${id}/cancel`, keyA);
    expect(r.status).toBe(202);
    const end = await waitFor(id, finished, 240_000);
    expect(end).toMatchObject({ status: "FAILED", error: { code: "cancelled" }, billing: { units: 0, usd: 0 } });
    expect(existsSync(join(store, "requests", id, "attempt-001", "lora_weights.safetensors"))).toBe(false);
  }, 300_000);
});
