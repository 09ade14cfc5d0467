import { type ChildProcess, fork } from "node:child_process";
import { existsSync } from "node:fs";
import { copyFile, mkdir, readdir, writeFile } from "node:fs/promises";
import { hostname } from "node:os";
import { basename, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { DelayedError, type Job, UnrecoverableError, WaitingError, Worker } from "bullmq";
import { Redis } from "ioredis";
import type { ChildArgs, ChildMessage } from "./child.js";
import {
  admit,
  attemptDirName,
  bullConnection,
  cancelledError,
  type JobData,
  type JobProgress,
  type JobResult,
  jobError,
  parseFailedReason,
  QUEUE_NAME,
  requestDir,
  serviceKeys,
  type WireError,
} from "./shared.js";
import { deliverWebhook } from "./webhook.js";

export interface WorkerOptions {
  redisUrl: string;
  /** The shared output store (e.g. an NFS mount): `requests/<id>/attempt-NNN/` per attempt. */
  store: string;
  /** Key prefix of the deployment (default `a2v`). */
  prefix?: string;
  /** Worker name in job progress and logs (default host:pid). */
  name?: string;
  /** BullMQ lock duration: how long a dead worker's job stays locked before it is retried (default 300 s). */
  lockDurationMs?: number;
  /** How often workers look for stalled jobs (default lockDuration / 2). */
  stalledIntervalMs?: number;
  /** Stalls tolerated before a job fails (default 3). */
  maxStalledCount?: number;
  /** How often the worker checks the fencing token and cancellation, and renews the admission lease (default 1 s). */
  pollMs?: number;
  /** Admission lease of a running job (default 60 s; renewed every pollMs). */
  leaseMs?: number;
  /** Delay before a job refused by its key's running cap is tried again (default 5 s). */
  admissionDelayMs?: number;
  seed?: number;
  checkpointEvery?: number;
  cacheDir?: string;
  model?: ChildArgs["model"];
  /** Dataset URLs may resolve to private addresses (loopback tests only). */
  allowPrivateNetwork?: boolean;
  /** Webhook signing secret (HMAC-SHA256). */
  webhookSecret?: string;
  /** First webhook retry delay (default 1 s, doubling; 5 tries). */
  webhookBaseDelayMs?: number;
  log?: (line: string) => void;
}

export interface ServiceWorker {
  readonly name: string;
  /** Drains: the running job stops at a step boundary with a checkpoint and goes back to the queue; then closes. */
  close(): Promise<void>;
}

/** The compiled child (under vitest the sources run, so the child comes from dist/). */
function childPath(): string {
  const here = fileURLToPath(import.meta.url);
  return here.endsWith(".ts") ? join(here, "..", "..", "dist", "child.js") : join(here, "..", "child.js");
}

/** Copies the newest previous attempt's checkpoints into this attempt; true when there was one to resume from. */
async function seedCheckpoints(reqDir: string, attemptDir: string): Promise<boolean> {
  const attempts = (await readdir(reqDir)).filter((n) => /^attempt-\d+$/.test(n) && n !== basename(attemptDir)).sort();
  for (const name of attempts.reverse()) {
    const from = join(reqDir, name, "checkpoints");
    if (!existsSync(from)) continue;
    const files = (await readdir(from)).filter((f) => f.endsWith(".safetensors"));
    if (!files.some((f) => f.startsWith("training_state_step_"))) continue;
    const to = join(attemptDir, "checkpoints");
    await mkdir(to, { recursive: true });
    for (const f of files) await copyFile(join(from, f), join(to, f));
    return true;
  }
  return false;
}

/** Starts one worker (one GPU, one job at a time). */
export async function startWorker(opts: WorkerOptions): Promise<ServiceWorker> {
  const prefix = opts.prefix ?? "a2v";
  const keys = serviceKeys(prefix);
  const name = opts.name ?? `${hostname()}:${process.pid}`;
  const redis = new Redis(opts.redisUrl, { maxRetriesPerRequest: null });
  const log = opts.log ?? ((line: string) => process.stderr.write(`[worker ${name}] ${line}\n`));
  const lockDuration = opts.lockDurationMs ?? 300_000;
  const pollMs = opts.pollMs ?? 1000;
  const leaseMs = opts.leaseMs ?? 60_000;
  let draining = false;
  let current: { child: ChildProcess; stop: () => void } | undefined;

  const processor = async (job: Job<JobData, JobResult>, token?: string): Promise<JobResult> => {
    const { requestId, owner } = job.data;
    if (await redis.get(keys.cancel(requestId))) throw new UnrecoverableError(JSON.stringify(cancelledError()));
    if (!(await admit(redis, keys, owner, requestId, job.data.maxRunning, leaseMs))) {
      // Still queued as far as the API is concerned (status IN_QUEUE until a worker admits it).
      const before = (typeof job.progress === "object" ? job.progress : {}) as JobProgress;
      if (before.admitted !== false) await job.updateProgress({ ...before, admitted: false });
      await job.moveToDelayed(Date.now() + (opts.admissionDelayMs ?? 5000), token);
      throw new DelayedError();
    }
    // Fencing: each attempt gets the next token and its own directory; a superseded attempt stops at its next poll
    // and never writes into the live attempt's files.
    const fence = await redis.incr(keys.fence(requestId));
    const reqDir = requestDir(opts.store, requestId);
    const attemptDir = join(reqDir, attemptDirName(fence));
    await mkdir(attemptDir, { recursive: true });
    await writeFile(join(attemptDir, "FENCE"), `${fence} ${name}\n`);
    const resume = await seedCheckpoints(reqDir, attemptDir);
    await job.log(`attempt ${fence} on ${name}${resume ? ", resuming from the last checkpoint" : ""}`);
    log(`job ${requestId} attempt ${fence}${resume ? " (resume)" : ""}`);

    const args: ChildArgs = {
      input: job.data.input,
      outDir: attemptDir,
      resume,
      seed: opts.seed ?? 42,
      checkpointEvery: opts.checkpointEvery ?? 250,
      cacheDir: opts.cacheDir,
      allowPrivateNetwork: opts.allowPrivateNetwork ?? false,
      model: opts.model ?? "tiny",
    };
    // The child runs the built JS: no inherited loader flags or export conditions (a test runner's "source").
    const nodeOptions = (process.env.NODE_OPTIONS ?? "").replace(/(--conditions|-C)[= ]\S+/g, "").trim();
    const child = fork(childPath(), [], {
      execArgv: [],
      env: { ...process.env, NODE_OPTIONS: nodeOptions, A2V_CHILD_ARGS: JSON.stringify(args) },
      stdio: ["ignore", "ignore", "inherit", "ipc"],
    });
    let stopReason: "cancel" | "drain" | "fenced" | undefined;
    const stop = (reason: typeof stopReason) => {
      if (stopReason) return;
      stopReason = reason;
      if (child.connected) child.send({ type: "abort" });
    };
    current = { child, stop: () => stop("drain") };
    if (draining) stop("drain");

    let progress: JobProgress = { stage: "fetch", worker: name, attempt: fence, admitted: true };
    let lastProgress = 0;
    const publish = (force = false) => {
      const now = Date.now();
      if (!force && now - lastProgress < 500) return;
      lastProgress = now;
      job.updateProgress({ ...progress }).catch(() => {});
    };
    publish(true);
    let outcome: ChildMessage | undefined;
    child.on("message", (m: ChildMessage) => {
      if (m.type !== "event") {
        outcome = m;
        return;
      }
      const e = m.event;
      if (e.type === "stage") {
        progress = { ...progress, stage: e.stage };
        publish(true);
        void job.log(e.status === "start" ? `${e.stage}: started` : `${e.stage}: done in ${e.seconds.toFixed(1)} s`);
      } else if (e.type === "step") {
        progress = {
          ...progress,
          stage: "train",
          step: e.step,
          steps: e.steps,
          loss: e.loss,
          eta_seconds: e.etaSeconds,
        };
        publish(e.step === e.steps);
        if (e.step % 10 === 0 || e.step === e.steps)
          void job.log(`step ${e.step}/${e.steps} loss ${e.loss.toFixed(5)}`);
      } else if (e.type === "checkpoint") {
        void job.log(`checkpoint at step ${e.step}`);
      } else if (e.type === "warning") {
        void job.log(`warning [${e.code}] ${e.message}`);
      } else if (e.type === "log") {
        void job.log(e.message);
      }
    });
    const poll = setInterval(async () => {
      try {
        await redis
          .multi()
          .zadd(keys.running(owner), Date.now() + leaseMs, requestId)
          .pexpire(keys.running(owner), leaseMs * 2)
          .exec();
        const [f, c] = await Promise.all([redis.get(keys.fence(requestId)), redis.get(keys.cancel(requestId))]);
        if (Number(f) !== fence) stop("fenced");
        else if (c) stop("cancel");
      } catch {}
    }, pollMs);
    const exit = await new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      child.on("exit", (code, signal) => resolve({ code, signal })),
    );
    clearInterval(poll);
    current = undefined;
    await redis.zrem(keys.running(owner), requestId).catch(() => {});

    if (outcome?.type === "done") {
      if (Number(await redis.get(keys.fence(requestId))) !== fence)
        throw jobError(superseded(`attempt ${fence} was superseded; its outputs are discarded`));
      const files: JobResult["files"] = {};
      for (const [k, v] of Object.entries(outcome.result.files))
        if (v) files[k as keyof typeof files] = relative(attemptDir, v);
      const result: JobResult = {
        attempt: fence,
        dir: attemptDirName(fence),
        files,
        billing: outcome.result.billing,
        metrics: outcome.result.metrics as JobResult["metrics"],
      };
      await job.log(`completed: ${Object.values(files).join(", ")}`);
      return result;
    }
    const error: WireError =
      outcome?.type === "error"
        ? outcome.error
        : {
            status: 500,
            code: "worker_child_died",
            message: `training process ended (${exit.signal ?? `exit ${exit.code}`}) without a result`,
            details: [],
          };
    if (error.code === "aborted" || stopReason) {
      if (stopReason === "cancel") throw new UnrecoverableError(JSON.stringify(cancelledError()));
      if (stopReason === "drain") {
        await job.log(`worker ${name} draining: back to the queue after a checkpoint`);
        await job.moveToWait(token);
        throw new WaitingError();
      }
      if (stopReason === "fenced") throw jobError(superseded(`attempt ${fence} was superseded by a newer attempt`));
    }
    await job.log(`failed [${error.code}] ${error.message}`);
    // Rejected input or data (4xx) is final; crashes and infrastructure failures are retried from the checkpoint.
    if (error.status >= 400 && error.status < 500) throw new UnrecoverableError(JSON.stringify(error));
    throw jobError(error);
  };

  const worker = new Worker<JobData, JobResult>(QUEUE_NAME, processor, {
    connection: bullConnection(opts.redisUrl),
    prefix,
    name,
    concurrency: 1,
    lockDuration,
    stalledInterval: opts.stalledIntervalMs ?? Math.max(1000, Math.floor(lockDuration / 2)),
    maxStalledCount: opts.maxStalledCount ?? 3,
    removeOnComplete: { count: 100_000 },
    removeOnFail: { count: 100_000 },
  });
  worker.on("error", (e) => log(`error: ${e.message}`));
  worker.on("failed", (job, e) => {
    if (job) log(`job ${job.id} failed: ${e.message}`);
  });
  const webhook = async (job: Job<JobData>, body: unknown) => {
    if (!job.data.webhookUrl) return;
    await deliverWebhook(job.data.webhookUrl, body, opts.webhookSecret ?? "", {
      log,
      allowPrivateNetwork: opts.allowPrivateNetwork,
      baseDelayMs: opts.webhookBaseDelayMs,
    }).catch((e) => log(`webhook for ${job.id} failed: ${e.message}`));
  };
  worker.on("completed", (job, result) => {
    void webhook(job, { request_id: job.id, status: "OK", payload: { billing: result.billing } });
  });
  worker.on("failed", (job, e) => {
    if (!job || (job.attemptsMade < (job.opts.attempts ?? 1) && !(e instanceof UnrecoverableError))) return;
    void webhook(job, { request_id: job.id, status: "ERROR", error: parseFailedReason(e.message) });
  });
  await worker.waitUntilReady();
  log(`ready (lock ${lockDuration} ms)`);

  return {
    name,
    async close() {
      draining = true;
      current?.stop();
      await worker.close();
      await redis.quit().catch(() => {});
    },
  };
}

/** A newer attempt holds the request's fencing token: this one stops and its outputs are discarded (retried). */
function superseded(message: string): WireError {
  return { status: 500, code: "attempt_superseded", message, details: [] };
}
