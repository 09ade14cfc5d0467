/**
 * Bounded loopback load test of the status endpoint: 200 polls/s (open loop, one every 5 ms) for 30 s against one
 * API process on a real Redis, spread over a queued, a running and a completed request. Prints p50/p90/p99/max
 * latency, the achieved rate and errors. `pnpm --filter @a2v/service bench` (figures in docs/perf.md).
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Worker } from "bullmq";
import { Redis } from "ioredis";
import { expect, it } from "vitest";
import { createApi, createApiKey, type JobResult } from "../src/index.js";
import { startRedis } from "../test/helpers/redis.js";

const RATE = Number(process.env.A2V_LOAD_RATE ?? 200);
const SECONDS = Number(process.env.A2V_LOAD_SECONDS ?? 30);

it(`status polls: ${RATE}/s for ${SECONDS} s`, async () => {
  const server = await startRedis();
  const store = await mkdtemp(join(tmpdir(), "a2v-load-"));
  const prefix = "load";
  const redis = new Redis(server.url);
  const api = await createApi({ redisUrl: server.url, store, prefix });
  const base = await api.app.listen({ port: 0, host: "127.0.0.1" });
  const { key } = await createApiKey(redis, prefix);
  const headers = { authorization: `Key ${key}`, "content-type": "application/json" };
  const submit = async () =>
    (
      (await (
        await fetch(`${base}/a2v`, {
          method: "POST",
          headers,
          body: JSON.stringify({ training_data_url: "https://example.com/x.zip" }),
        })
      ).json()) as { request_id: string }
    ).request_id;
  // A fake processor: the first job completes, the second stays active until the end.
  let release = () => {};
  const hold = new Promise<void>((r) => {
    release = r;
  });
  let n = 0;
  const worker = new Worker(
    "a2v",
    async (job) => {
      await job.updateProgress({ stage: "train", step: 10, steps: 100, loss: 0.5, eta_seconds: 60 });
      await job.log("step 10/100 loss 0.50000");
      if (n++ === 0)
        return {
          attempt: 1,
          dir: "attempt-001",
          files: {},
          billing: { units: 100, usd: 0.6 },
          metrics: {},
        } as JobResult;
      await hold;
      return undefined;
    },
    { connection: { url: server.url, maxRetriesPerRequest: null }, prefix, concurrency: 2 },
  );
  const completed = await submit();
  const running = await submit();
  while (
    (await api.queue.getJobState(completed)) !== "completed" ||
    (await api.queue.getJobState(running)) !== "active"
  )
    await new Promise((r) => setTimeout(r, 50));
  await worker.pause(true).catch(() => {});
  const queued = [await submit(), await submit(), await submit()];
  const ids = [completed, running, ...queued];

  const latencies: number[] = [];
  let errors = 0;
  const inflight: Promise<void>[] = [];
  const start = performance.now();
  const total = RATE * SECONDS;
  for (let i = 0; i < total; i++) {
    const due = start + (i * 1000) / RATE;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    const id = ids[i % ids.length]!;
    inflight.push(
      (async () => {
        const t0 = performance.now();
        try {
          const res = await fetch(`${base}/a2v/requests/${id}/status${i % 2 ? "?logs=1" : ""}`, { headers });
          await res.arrayBuffer();
          if (!res.ok) errors++;
        } catch {
          errors++;
        }
        latencies.push(performance.now() - t0);
      })(),
    );
  }
  await Promise.all(inflight);
  const elapsed = (performance.now() - start) / 1000;
  latencies.sort((a, b) => a - b);
  const q = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))]!.toFixed(1);
  const report = {
    requests: latencies.length,
    seconds: Number(elapsed.toFixed(1)),
    rate: Number((latencies.length / elapsed).toFixed(1)),
    errors,
    p50_ms: q(0.5),
    p90_ms: q(0.9),
    p99_ms: q(0.99),
    max_ms: latencies.at(-1)!.toFixed(1),
  };
  console.log(JSON.stringify(report));
  release();
  await worker.close(true);
  await api.close();
  await redis.quit();
  await server.stop();
  await rm(store, { recursive: true, force: true });
  expect(errors).toBe(0);
}, 120_000);
