#!/usr/bin/env node
import { parseArgs } from "node:util";
import { EXIT } from "@a2v/errors";
import { type CliProgram, processOut, runProgram, usageError } from "@a2v/sdk";
import { Redis } from "ioredis";
import { createApi } from "./api.js";
import { createApiKey } from "./shared.js";
import { startWorker } from "./worker.js";

const SERVE_USAGE =
  "a2v-service serve  --redis URL --store DIR [--port 8080] [--host 0.0.0.0] [--prefix a2v] [--public-url URL]";
const WORKER_USAGE =
  "a2v-service worker --redis URL --store DIR [--prefix a2v] [--name NAME] [--cache-dir DIR] [--checkpoint-every N]\n" +
  "      [--seed N] [--lock-duration MS] [--stalled-interval MS] [--poll MS] [--webhook-secret S] [--allow-private-network]";
const KEY_USAGE = "a2v-service key create --redis URL [--prefix a2v] [--name NAME] [--max-running N] [--json]";

const num = (v: string | undefined) => (v === undefined ? undefined : Number(v));

/** Resolves with `code` on the first SIGTERM or SIGINT, after `close` has run. */
function untilSignal(close: (signal: NodeJS.Signals) => Promise<number>): Promise<number> {
  return new Promise((resolve) => {
    const stop = (signal: NodeJS.Signals) => {
      process.off("SIGTERM", stop);
      process.off("SIGINT", stop);
      void close(signal).then(resolve);
    };
    process.once("SIGTERM", stop);
    process.once("SIGINT", stop);
  });
}

/** The options `serve` and `worker` share: where the queue and the job store are. */
const QUEUE_OPTIONS = {
  redis: { type: "string" },
  store: { type: "string" },
  prefix: { type: "string" },
  json: { type: "boolean" },
} as const;

/** `a2v-service`: the same help layout, `--json` error shape and exit codes as `a2v` (`runProgram` of `@a2v/sdk`). */
const A2V_SERVICE: CliProgram = {
  name: "a2v-service",
  title: "a2v-service — the a2v queue API and GPU workers (BullMQ + Redis)",
  commands: {
    serve: {
      usage: SERVE_USAGE,
      summary: "the HTTP API and web console; SIGTERM/SIGINT stop it (exit 0)",
      async run(args, out) {
        const { values } = parseArgs({
          args,
          options: {
            ...QUEUE_OPTIONS,
            port: { type: "string" },
            host: { type: "string" },
            "public-url": { type: "string" },
          },
        });
        if (!values.redis || !values.store) throw usageError("--redis and --store are required");
        const { app, close } = await createApi({
          redisUrl: values.redis,
          store: values.store,
          prefix: values.prefix ?? "a2v",
          publicUrl: values["public-url"],
        });
        const address = await app.listen({ port: num(values.port) ?? 8080, host: values.host ?? "0.0.0.0" });
        out.stderr(`a2v-service listening on ${address}`);
        return untilSignal(async () => {
          await close();
          return EXIT.ok;
        });
      },
    },
    worker: {
      usage: WORKER_USAGE,
      summary: "one GPU worker; SIGTERM/SIGINT drain it (checkpoint, back to the queue; exit 143 / 130)",
      async run(args, out) {
        const { values } = parseArgs({
          args,
          options: {
            ...QUEUE_OPTIONS,
            name: { type: "string" },
            "cache-dir": { type: "string" },
            "checkpoint-every": { type: "string" },
            seed: { type: "string" },
            "lock-duration": { type: "string" },
            "stalled-interval": { type: "string" },
            poll: { type: "string" },
            "webhook-secret": { type: "string" },
            "allow-private-network": { type: "boolean" },
          },
        });
        if (!values.redis || !values.store) throw usageError("--redis and --store are required");
        const worker = await startWorker({
          redisUrl: values.redis,
          store: values.store,
          prefix: values.prefix ?? "a2v",
          name: values.name,
          cacheDir: values["cache-dir"],
          checkpointEvery: num(values["checkpoint-every"]),
          seed: num(values.seed),
          lockDurationMs: num(values["lock-duration"]),
          stalledIntervalMs: num(values["stalled-interval"]),
          pollMs: num(values.poll),
          webhookSecret: values["webhook-secret"] ?? process.env.A2V_WEBHOOK_SECRET,
          allowPrivateNetwork: values["allow-private-network"] ?? false,
        });
        // SIGTERM/SIGINT drain: the job checkpoints at a step boundary and goes back to the queue, then we exit.
        return untilSignal(async (signal) => {
          out.stderr(`[worker ${worker.name}] ${signal}: draining`);
          await worker.close();
          return signal === "SIGTERM" ? 143 : 130;
        });
      },
    },
    key: {
      usage: KEY_USAGE,
      summary: "create an API key: prints { key, id, name, maxRunning } once (Redis keeps its SHA-256)",
      async run(args, out) {
        const { values, positionals } = parseArgs({
          args,
          allowPositionals: true,
          options: {
            redis: { type: "string" },
            prefix: { type: "string" },
            name: { type: "string" },
            "max-running": { type: "string" },
            json: { type: "boolean" },
          },
        });
        const [sub, ...extra] = positionals;
        if (sub !== "create" || extra.length > 0) {
          throw usageError(
            sub ? `unknown key command "${[sub, ...extra].join(" ")}"` : "missing the key command (create)",
          );
        }
        if (!values.redis) throw usageError("--redis is required");
        const redis = new Redis(values.redis);
        try {
          const { key, record } = await createApiKey(redis, values.prefix ?? "a2v", {
            name: values.name,
            maxRunning: num(values["max-running"]),
          });
          out.stdout(JSON.stringify({ key, ...record }));
        } finally {
          await redis.quit().catch(() => {});
        }
        return EXIT.ok;
      },
    },
  },
};

const code = await runProgram(A2V_SERVICE, process.argv.slice(2), processOut());
// serve and worker resolve after their shutdown; a client library's lingering handle must not keep the process up.
process.exit(code);
