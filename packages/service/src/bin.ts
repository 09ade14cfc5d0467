#!/usr/bin/env node
import { parseArgs } from "node:util";
import { Redis } from "ioredis";
import { createApi } from "./api.js";
import { createApiKey } from "./shared.js";
import { startWorker } from "./worker.js";

const USAGE = `a2v-service serve  --redis URL --store DIR [--port 8080] [--host 0.0.0.0] [--prefix a2v] [--public-url URL]
a2v-service worker --redis URL --store DIR [--prefix a2v] [--name NAME] [--cache-dir DIR] [--checkpoint-every N]
      [--seed N] [--lock-duration MS] [--stalled-interval MS] [--poll MS] [--webhook-secret S] [--allow-private-network]
a2v-service key create --redis URL [--prefix a2v] [--name NAME] [--max-running N]
`;

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      redis: { type: "string" },
      store: { type: "string" },
      port: { type: "string" },
      host: { type: "string" },
      prefix: { type: "string" },
      "public-url": { type: "string" },
      name: { type: "string" },
      "cache-dir": { type: "string" },
      "checkpoint-every": { type: "string" },
      seed: { type: "string" },
      "lock-duration": { type: "string" },
      "stalled-interval": { type: "string" },
      poll: { type: "string" },
      "max-running": { type: "string" },
      "webhook-secret": { type: "string" },
      "allow-private-network": { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
  });
  const num = (v: string | undefined) => (v === undefined ? undefined : Number(v));
  const [command, sub] = positionals;
  if (values.help || !command) {
    process.stdout.write(USAGE);
    return values.help ? 0 : 2;
  }
  if (!values.redis || ((command === "serve" || command === "worker") && !values.store)) {
    process.stderr.write(`error [usage]: --redis${command === "key" ? "" : " and --store"} are required\n${USAGE}`);
    return 2;
  }
  const prefix = values.prefix ?? "a2v";
  if (command === "key" && sub === "create") {
    const redis = new Redis(values.redis);
    const { key, record } = await createApiKey(redis, prefix, {
      name: values.name,
      maxRunning: num(values["max-running"]),
    });
    await redis.quit();
    process.stdout.write(`${JSON.stringify({ key, ...record })}\n`);
    return 0;
  }
  if (command === "serve") {
    const { app, close } = await createApi({
      redisUrl: values.redis,
      store: values.store!,
      prefix,
      publicUrl: values["public-url"],
    });
    const address = await app.listen({ port: num(values.port) ?? 8080, host: values.host ?? "0.0.0.0" });
    process.stderr.write(`a2v-service listening on ${address}\n`);
    const stop = () => void close().then(() => process.exit(0));
    process.once("SIGTERM", stop);
    process.once("SIGINT", stop);
    return -1;
  }
  if (command === "worker") {
    const worker = await startWorker({
      redisUrl: values.redis,
      store: values.store!,
      prefix,
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
    const drain = (signal: NodeJS.Signals) => {
      process.stderr.write(`[worker ${worker.name}] ${signal}: draining\n`);
      void worker.close().then(() => process.exit(signal === "SIGTERM" ? 143 : 130));
    };
    process.once("SIGTERM", drain);
    process.once("SIGINT", drain);
    return -1;
  }
  process.stderr.write(`error [usage]: unknown command ${command}\n${USAGE}`);
  return 2;
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code >= 0) process.exitCode = code;
  },
  (e) => {
    process.stderr.write(`error [internal]: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exitCode = 1;
  },
);
