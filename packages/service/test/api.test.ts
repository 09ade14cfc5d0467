import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  admit,
  createApi,
  createApiKey,
  type ServiceApi,
  serviceKeys,
  signWebhook,
  verifyWebhook,
} from "../src/index.js";
import { startRedis, type TestRedis } from "./helpers/redis.js";

// The API alone, on a real Redis with no worker: every job stays queued.
let redisServer: TestRedis;
let redis: Redis;
let api: ServiceApi;
let store = "";
let keyA = "";
let keyB = "";
const prefix = "t-api";
const valid = { training_data_url: "https://example.com/groups.zip", number_of_steps: 100, resolution: "low" };

const call = (method: "GET" | "POST" | "PUT", url: string, key?: string, body?: unknown, headers = {}) =>
  api.app.inject({
    method,
    url,
    headers: { ...(key ? { authorization: `Key ${key}` } : {}), ...headers },
    ...(body !== undefined ? { payload: body as object } : {}),
  });

beforeAll(async () => {
  redisServer = await startRedis();
  redis = new Redis(redisServer.url);
  store = await mkdtemp(join(tmpdir(), "a2v-store-"));
  api = await createApi({ redisUrl: redisServer.url, store, prefix, publicUrl: "http://api.test" });
  keyA = (await createApiKey(redis, prefix, { name: "a" })).key;
  keyB = (await createApiKey(redis, prefix, { name: "b" })).key;
});
afterAll(async () => {
  await api?.close();
  await redis?.quit();
  await redisServer?.stop();
  await rm(store, { recursive: true, force: true });
});

describe("the queue API without workers", () => {
  it("stores only the SHA-256 of an API key and refuses requests without a valid one", async () => {
    const stored = await redis.keys(`${prefix}:svc:apikey:*`);
    expect(stored).toHaveLength(2);
    for (const k of stored) expect(k).not.toContain(keyA);
    expect((await call("POST", "/a2v", undefined, valid)).statusCode).toBe(401);
    expect((await call("POST", "/a2v", "a2v_wrong", valid)).statusCode).toBe(401);
  });

  it("answers a bad input with a 422 naming every field, billed 0, nothing queued", async () => {
    const r = await call("POST", "/a2v", keyA, { ...valid, rank: 7, number_of_steps: 5, bogus: 1 });
    expect(r.statusCode).toBe(422);
    const body = r.json();
    expect(body).toMatchObject({ status: 422, code: "invalid_input", billing: { units: 0, usd: 0 } });
    const paths = body.details.map((d: { path?: string[] }) => (d.path ?? []).join("."));
    expect(paths).toEqual(expect.arrayContaining(["rank", "number_of_steps"]));
    expect(await api.queue.count()).toBe(0);
  });

  it("refuses file:// URLs and local paths (the CLI's, not a tenant's) with a 422, nothing queued", async () => {
    for (const url of ["file:///etc/passwd", "/srv/data/groups.zip", "groups.zip"]) {
      const r = await call("POST", "/a2v", keyA, { ...valid, training_data_url: url });
      expect(r.statusCode, url).toBe(422);
      expect(r.json().details[0]).toMatchObject({ code: "url_scheme_not_allowed", path: ["training_data_url"] });
    }
    const r = await call("POST", "/a2v", keyA, {
      ...valid,
      validation: [{ prompt: "p", image_url: "https://example.com/a.png", audio_url: "file:///tmp/a.wav" }],
    });
    expect(r.statusCode).toBe(422);
    expect(r.json().details[0].path).toEqual(["validation", 0, "audio_url"]);
    const hook = await call("POST", "/a2v?webhook=file%3A%2F%2F%2Ftmp%2Fx", keyA, valid);
    expect(hook.statusCode).toBe(422);
    expect(hook.json().details[0].path).toEqual(["webhook"]);
    expect(await api.queue.count()).toBe(0);
  });

  let first = "";
  it("queues a valid input, reports its queue position, and returns the same request for a retried submit", async () => {
    const a = await call("POST", "/a2v", keyA, valid, { "idempotency-key": "k1" });
    expect(a.statusCode).toBe(200);
    first = a.json().request_id;
    expect(a.json()).toEqual({
      request_id: first,
      status_url: `http://api.test/a2v/requests/${first}/status`,
      response_url: `http://api.test/a2v/requests/${first}`,
      cancel_url: `http://api.test/a2v/requests/${first}/cancel`,
    });
    const again = await call("POST", "/a2v", keyA, valid, { "idempotency-key": "k1" });
    expect(again.json().request_id).toBe(first);
    expect(again.headers["idempotent-replayed"]).toBe("true");
    // The same idempotency key of another tenant is another request.
    const other = await call("POST", "/a2v", keyB, valid, { "idempotency-key": "k1" });
    expect(other.json().request_id).not.toBe(first);
    const second = (await call("POST", "/a2v", keyA, valid)).json().request_id;
    expect(await api.queue.count()).toBe(3);
    const s1 = await call("GET", `/a2v/requests/${first}/status`, keyA);
    expect(s1.json()).toMatchObject({ status: "IN_QUEUE", queue_position: 0 });
    const s2 = await call("GET", `/a2v/requests/${second}/status?logs=1`, keyA);
    expect(s2.json()).toMatchObject({ status: "IN_QUEUE", queue_position: 2, logs: [] });
    expect((await call("GET", `/a2v/requests/${first}`, keyA)).statusCode).toBe(409);
  });

  it("hides one key's requests from another", async () => {
    for (const url of [
      `/a2v/requests/${first}/status`,
      `/a2v/requests/${first}`,
      `/a2v/requests/${first}/files/lora_file`,
    ]) {
      expect((await call("GET", url, keyB)).statusCode, url).toBe(404);
    }
    expect((await call("PUT", `/a2v/requests/${first}/cancel`, keyB)).statusCode).toBe(404);
    const listB = (await call("GET", "/a2v/requests", keyB))
      .json()
      .requests.map((r: { request_id: string }) => r.request_id);
    expect(listB).not.toContain(first);
    expect(listB).toHaveLength(1);
  });

  it("cancels a queued request: out of the queue, FAILED with code cancelled, billed 0", async () => {
    const before = await api.queue.count();
    const r = await call("PUT", `/a2v/requests/${first}/cancel`, keyA);
    expect(r.statusCode).toBe(202);
    expect(await api.queue.count()).toBe(before - 1);
    const s = (await call("GET", `/a2v/requests/${first}/status`, keyA)).json();
    expect(s).toMatchObject({ status: "FAILED", error: { code: "cancelled" }, billing: { units: 0, usd: 0 } });
    expect((await call("PUT", `/a2v/requests/${first}/cancel`, keyA)).json()).toEqual({ status: "ALREADY_COMPLETED" });
  });

  it("serves an OpenAPI document whose request body is the training input schema", async () => {
    const doc = (await call("GET", "/openapi.json")).json();
    expect(doc.openapi).toMatch(/^3\./);
    const body = doc.paths["/a2v"].post.requestBody.content["application/json"].schema;
    expect(body.properties.number_of_steps).toMatchObject({ minimum: 100, maximum: 20000, default: 2000 });
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining(["/a2v/requests/{id}/status", "/a2v/requests/{id}", "/a2v/requests/{id}/cancel"]),
    );
    const page = await call("GET", "/");
    expect(page.headers["content-type"]).toContain("text/html");
  });

  it("admits at most the key's cap of running jobs; a lapsed lease frees its slot", async () => {
    const keys = serviceKeys("t-admit");
    expect(await admit(redis, keys, "o", "j1", 2, 60_000)).toBe(true);
    expect(await admit(redis, keys, "o", "j2", 2, 60_000)).toBe(true);
    expect(await admit(redis, keys, "o", "j3", 2, 60_000)).toBe(false);
    expect(await admit(redis, keys, "o", "j1", 2, 60_000)).toBe(true); // re-admitting a holder
    expect(await admit(redis, keys, "other", "j4", 2, 60_000)).toBe(true);
    await redis.zadd(keys.running("o"), Date.now() - 1, "j2"); // j2's worker died: its lease lapsed
    expect(await admit(redis, keys, "o", "j3", 2, 60_000)).toBe(true);
  });

  it("signs webhooks with HMAC-SHA256 over the timestamp and body", () => {
    const header = signWebhook("s3cret", '{"a":1}');
    expect(verifyWebhook("s3cret", '{"a":1}', header)).toBe(true);
    expect(verifyWebhook("s3cret", '{"a":2}', header)).toBe(false);
    expect(verifyWebhook("other", '{"a":1}', header)).toBe(false);
  });
});
