import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  createApi,
  createApiKey,
  type ServiceApi,
  type ServiceWorker,
  type Status,
  serviceKeys,
  startWorker,
} from "../src/index.js";
import { startRedis, type TestRedis } from "./helpers/redis.js";

// A real worker (in this process; its training child is the built dist/child.js) on jobs that never train.
let redisServer: TestRedis;
let redis: Redis;
let api: ServiceApi;
let worker: ServiceWorker;
let store = "";
const prefix = "t-admit";
const keys = serviceKeys(prefix);

beforeAll(async () => {
  redisServer = await startRedis();
  redis = new Redis(redisServer.url);
  store = await mkdtemp(join(tmpdir(), "a2v-store-"));
  api = await createApi({ redisUrl: redisServer.url, store, prefix });
  worker = await startWorker({
    redisUrl: redisServer.url,
    store,
    prefix,
    name: "w",
    admissionDelayMs: 200,
    pollMs: 200,
    lockDurationMs: 10_000,
    log: () => {},
  });
});
afterAll(async () => {
  await worker?.close();
  await api?.close();
  await redis?.quit();
  await redisServer?.stop();
  await rm(store, { recursive: true, force: true });
});

const status = async (id: string, key: string): Promise<Status> =>
  (
    await api.app.inject({
      method: "GET",
      url: `/a2v/requests/${id}/status?logs=1`,
      headers: { authorization: `Key ${key}` },
    })
  ).json();

describe("admission and the worker's own checks", () => {
  it("holds a job while its key is at its running cap, starts it when a slot frees, and does not retry a 4xx", async () => {
    const { key, record } = await createApiKey(redis, prefix, { maxRunning: 1 });
    // Another of this key's jobs holds the only slot.
    await redis.zadd(keys.running(record.id), Date.now() + 60_000, "another-job");
    const r = await api.app.inject({
      method: "POST",
      url: "/a2v",
      headers: { authorization: `Key ${key}` },
      // Loopback: the worker (allowPrivateNetwork off) refuses to fetch it.
      payload: { training_data_url: "http://127.0.0.1:9/groups.zip" },
    });
    const id = r.json().request_id as string;
    // Tried every 200 ms, refused each time: IN_QUEUE throughout, nothing started.
    for (let i = 0; i < 10; i++) {
      await new Promise((done) => setTimeout(done, 150));
      expect(await status(id, key)).toMatchObject({ status: "IN_QUEUE" });
    }
    expect((await api.queue.getJob(id))!.progress).toEqual({ admitted: false });
    expect(existsSync(join(store, "requests", id))).toBe(false);

    await redis.zrem(keys.running(record.id), "another-job");
    let s: Status;
    const end = Date.now() + 90_000;
    do {
      await new Promise((done) => setTimeout(done, 250));
      s = await status(id, key);
    } while (s.status !== "FAILED" && s.status !== "COMPLETED" && Date.now() < end);
    expect(s.status, JSON.stringify(s)).toBe("FAILED");
    expect(s.error!.status).toBeGreaterThanOrEqual(400);
    expect(s.error!.status).toBeLessThan(500);
    expect(s.error!.message).toMatch(/loopback\/private\/link-local/);
    expect(s.billing).toEqual({ units: 0, usd: 0 });
    expect((await api.queue.getJob(id))!.attemptsMade).toBe(1);
    // The lease was released.
    expect(await redis.zcard(keys.running(record.id))).toBe(0);
  }, 120_000);
});
