import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { deliverWebhook, verifyWebhook } from "../src/webhook.js";

let server: Server;
let base = "";
const answers: number[] = [];
const received: { body: string; signature: string }[] = [];
beforeAll(async () => {
  server = createServer((req, res) => {
    let body = "";
    req.on("data", (chunk) => {
      body += chunk;
    });
    req.on("end", () => {
      received.push({ body, signature: String(req.headers["x-a2v-signature"]) });
      res.statusCode = answers.shift() ?? 200;
      res.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

const opts = { allowPrivateNetwork: true, baseDelayMs: 1 };

describe("deliverWebhook", () => {
  it("retries a non-2xx answer and delivers the signed body", async () => {
    answers.push(503);
    received.length = 0;
    await deliverWebhook(`${base}/hook`, { ok: 1 }, "s3cret", opts);
    expect(received).toHaveLength(2);
    expect(verifyWebhook("s3cret", received[1]!.body, received[1]!.signature)).toBe(true);
  });

  it("after the last try rejects with webhook_failed (an A2VError naming the answer)", async () => {
    answers.push(500, 500);
    await expect(deliverWebhook(`${base}/hook`, {}, "s", { ...opts, attempts: 2 })).rejects.toMatchObject({
      name: "A2VError",
      code: "webhook_failed",
      status: 502,
      message: expect.stringContaining("HTTP 500"),
    });
  });

  it("refuses a private address and a non-http(s) URL at once, each with its code", async () => {
    received.length = 0;
    await expect(deliverWebhook(`${base}/hook`, {}, "s", { baseDelayMs: 1 })).rejects.toMatchObject({
      code: "webhook_private_address",
    });
    await expect(deliverWebhook("file:///etc/passwd", {}, "s", opts)).rejects.toMatchObject({
      code: "url_scheme_not_allowed",
      status: 422,
    });
    expect(received).toHaveLength(0);
  });
});
