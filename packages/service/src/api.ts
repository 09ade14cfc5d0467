import { randomUUID } from "node:crypto";
import { createReadStream, existsSync } from "node:fs";
import { stat } from "node:fs/promises";
import { join } from "node:path";
import { A2VError, type A2VErrorDetail, isA2VError } from "@a2v/errors";
import { parseTrainInput, trainInputJsonSchema } from "@a2v/sdk";
import swagger from "@fastify/swagger";
import { type Job, Queue } from "bullmq";
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from "fastify";
import { Redis } from "ioredis";
import { z } from "zod";
import { consolePage } from "./console.js";
import {
  type ApiKeyRecord,
  bullConnection,
  type JobData,
  type JobProgress,
  type JobResult,
  lookupApiKey,
  OUTPUT_FIELDS,
  type OutputField,
  parseFailedReason,
  QUEUE_NAME,
  requestDir,
  serviceKeys,
} from "./shared.js";

export interface ApiOptions {
  redisUrl: string;
  store: string;
  prefix?: string;
  /** Base URL put in status/response/file URLs (default: from the request's Host). */
  publicUrl?: string;
  /** Retries of a failed (non-422) job: BullMQ `attempts` (default 3), exponential backoff from `backoffMs` (5 s). */
  attempts?: number;
  backoffMs?: number;
  /** How often server-sent events re-read the status (default 500 ms). */
  ssePollMs?: number;
  /** Fastify logger (default off). */
  logger?: boolean;
}

const FILE_TYPES: Record<string, string> = {
  ".safetensors": "application/octet-stream",
  ".json": "application/json",
  ".zip": "application/zip",
  ".mp4": "video/mp4",
};

// ---- wire schemas (zod; the OpenAPI document is generated from them) ----------------------------
const ErrorSchema = z.object({
  status: z.number().int(),
  code: z.string(),
  message: z.string(),
  details: z.array(
    z.object({ code: z.string(), message: z.string(), path: z.array(z.union([z.string(), z.number()])).optional() }),
  ),
  billing: z.object({ units: z.number(), usd: z.number() }).optional(),
});
const SubmitSchema = z.object({
  request_id: z.string(),
  status_url: z.string(),
  response_url: z.string(),
  cancel_url: z.string(),
});
const BillingSchema = z.object({ units: z.number(), usd: z.number() });
const LogSchema = z.object({ message: z.string(), timestamp: z.string().optional() });
export const StatusSchema = z.object({
  request_id: z.string(),
  status: z.enum(["IN_QUEUE", "IN_PROGRESS", "COMPLETED", "FAILED"]),
  queue_position: z.number().int().optional(),
  stage: z.string().optional(),
  step: z.number().int().optional(),
  steps: z.number().int().optional(),
  loss: z.number().optional(),
  eta_seconds: z.number().optional(),
  attempt: z.number().int().optional(),
  error: ErrorSchema.optional(),
  billing: BillingSchema.optional(),
  logs: z.array(LogSchema).optional(),
  response_url: z.string(),
});
export type Status = z.infer<typeof StatusSchema>;
const FileSchema = z.object({
  url: z.string(),
  file_name: z.string(),
  content_type: z.string(),
  file_size: z.number(),
});
const ResultSchema = z.object({
  lora_file: FileSchema,
  config_file: FileSchema,
  video: FileSchema.optional(),
  debug_dataset: FileSchema.optional(),
  billing: BillingSchema,
});
const json = (s: z.ZodType) => {
  const { $schema: _, ...rest } = z.toJSONSchema(s, { unrepresentable: "any" }) as Record<string, unknown>;
  return rest;
};
const idParams = { type: "object", properties: { id: { type: "string" } }, required: ["id"] };

/** The hosted queue API on fastify: submit, status (+ SSE), result, files, cancel; OpenAPI at /openapi.json. */
export interface ServiceApi {
  /** The fastify instance: `listen()` it, or `inject()` requests. */
  app: FastifyInstance;
  queue: Queue<JobData, JobResult>;
  /** Closes the server, the queue and the Redis connection. */
  close(): Promise<void>;
}

export async function createApi(opts: ApiOptions): Promise<ServiceApi> {
  const prefix = opts.prefix ?? "a2v";
  const keys = serviceKeys(prefix);
  const redis = new Redis(opts.redisUrl, { maxRetriesPerRequest: 3 });
  const queue = new Queue<JobData, JobResult>(QUEUE_NAME, { connection: bullConnection(opts.redisUrl), prefix });
  const app = Fastify({ logger: opts.logger ?? false, bodyLimit: 1 << 20 });
  // Bodies are checked by the zod schemas in the handlers (one 422 shape with every offending field); the JSON
  // Schemas on the routes are for the OpenAPI document.
  app.setValidatorCompiler(() => (data) => ({ value: data }));
  app.setSerializerCompiler(() => (data) => JSON.stringify(data));
  await app.register(swagger, {
    openapi: {
      info: { title: "a2v training API", version: "0.1.0", description: "LTX-2.3 audio-to-video LoRA training queue" },
      components: {
        securitySchemes: { apiKey: { type: "apiKey", in: "header", name: "Authorization", description: "Key <key>" } },
      },
      security: [{ apiKey: [] }],
    },
  });

  app.setErrorHandler((error, _req, reply) => {
    if (isA2VError(error)) return reply.status(error.status).send({ ...error.toJSON(), billing: { units: 0, usd: 0 } });
    const e = error as { statusCode?: number; message: string };
    const status = e.statusCode && e.statusCode < 500 ? e.statusCode : 500;
    return reply
      .status(status)
      .send({ status, code: status === 500 ? "internal" : "bad_request", message: e.message, details: [] });
  });

  const base = (req: FastifyRequest) => opts.publicUrl ?? `${req.protocol}://${req.host}`;
  const urls = (req: FastifyRequest, id: string) => {
    const r = `${base(req)}/a2v/requests/${id}`;
    return { request_id: id, status_url: `${r}/status`, response_url: r, cancel_url: `${r}/cancel` };
  };

  async function auth(req: FastifyRequest): Promise<ApiKeyRecord> {
    const h = req.headers.authorization ?? "";
    const m = /^(?:Key|Bearer)\s+(\S+)$/i.exec(h);
    const rec = m ? await lookupApiKey(redis, prefix, m[1]!) : undefined;
    if (!rec)
      throw new A2VError("unauthorized", "a valid API key is required (Authorization: Key <key>)", { status: 401 });
    return rec;
  }

  /** The request if this key owns it; another key's request is indistinguishable from a missing one. */
  async function owned(req: FastifyRequest, id: string) {
    const key = await auth(req);
    const rec = await redis.hgetall(keys.request(id));
    if (!rec.owner || rec.owner !== key.id) throw new A2VError("not_found", `no request ${id}`, { status: 404 });
    return { key, rec };
  }

  async function status(req: FastifyRequest, id: string, rec: Record<string, string>, logs: boolean): Promise<Status> {
    const response_url = urls(req, id).response_url;
    const job = (await queue.getJob(id)) as Job<JobData, JobResult> | undefined;
    const withLogs = async (s: Status): Promise<Status> => {
      if (!logs || !job) return s;
      const l = await queue.getJobLogs(id);
      return { ...s, logs: l.logs.map((message) => ({ message })) };
    };
    if (!job) {
      if (rec.cancelled)
        return {
          request_id: id,
          status: "FAILED",
          error: { status: 499, code: "cancelled", message: "the request was cancelled", details: [] },
          billing: { units: 0, usd: 0 },
          response_url,
        };
      throw new A2VError("not_found", `no request ${id}`, { status: 404 });
    }
    const state = await job.getState();
    if (state === "completed") {
      return withLogs({ request_id: id, status: "COMPLETED", billing: job.returnvalue.billing, response_url });
    }
    if (state === "failed") {
      const error = parseFailedReason(job.failedReason);
      return withLogs({ request_id: id, status: "FAILED", error, billing: { units: 0, usd: 0 }, response_url });
    }
    const p = (typeof job.progress === "object" ? job.progress : {}) as JobProgress;
    if (state === "active" && p.admitted !== false) {
      return withLogs({
        request_id: id,
        status: "IN_PROGRESS",
        stage: p.stage,
        step: p.step,
        steps: p.steps,
        loss: p.loss,
        eta_seconds: p.eta_seconds,
        attempt: p.attempt,
        response_url,
      });
    }
    // waiting / prioritized / delayed (backing off before a retry), or held back by the key's running cap
    let position: number;
    const [pos, len] = await Promise.all([redis.lpos(keys.wait, id), redis.llen(keys.wait)]);
    position = pos === null ? len : len - 1 - pos;
    if (position < 0) position = 0;
    return withLogs({ request_id: id, status: "IN_QUEUE", queue_position: position, response_url });
  }

  app.get("/openapi.json", { schema: { hide: true } }, async () => app.swagger());
  app.get("/", { schema: { hide: true } }, async (_req, reply) => reply.type("text/html").send(consolePage()));

  app.post(
    "/a2v",
    {
      schema: {
        summary: "Submit a training",
        headers: { type: "object", properties: { "idempotency-key": { type: "string" } } },
        body: (({ $schema: _, ...s }) => s)(trainInputJsonSchema()),
        response: { 200: json(SubmitSchema), 422: json(ErrorSchema) },
      },
    },
    async (req, reply) => {
      const key = await auth(req);
      const body = req.body;
      parseTrainInput(body); // throws the 422 with every offending field
      checkRemoteUrls(body as Record<string, unknown>);
      const idem = req.headers["idempotency-key"] ?? req.headers["x-client-request-id"];
      let id: string = randomUUID();
      if (typeof idem === "string" && idem.length > 0) {
        const ik = keys.idempotency(key.id, idem);
        const set = await redis.set(ik, id, "EX", 86_400, "NX");
        if (set !== "OK") {
          const existing = await redis.get(ik);
          if (existing) return reply.header("idempotent-replayed", "true").send(urls(req, existing));
          id = randomUUID();
        }
      }
      const webhook = (req.query as { webhook?: string }).webhook;
      if (webhook !== undefined) checkRemoteUrls({ webhook }, ["webhook"]);
      await redis
        .multi()
        .hset(keys.request(id), { owner: key.id, created_at: String(Date.now()) })
        .zadd(`${prefix}:svc:owner:${key.id}`, Date.now(), id)
        .exec();
      const data: JobData = {
        requestId: id,
        owner: key.id,
        input: body as Record<string, unknown>,
        maxRunning: key.maxRunning,
        createdAt: Date.now(),
        ...(webhook ? { webhookUrl: webhook } : {}),
      };
      try {
        await queue.add("train", data, {
          jobId: id,
          attempts: opts.attempts ?? 3,
          backoff: { type: "exponential", delay: opts.backoffMs ?? 5000 },
        });
      } catch (e) {
        // Not queued: a retry with the same idempotency key must submit again, not find a request that never ran.
        if (typeof idem === "string" && idem.length > 0)
          await redis.del(keys.idempotency(key.id, idem)).catch(() => {});
        throw e;
      }
      return reply.send(urls(req, id));
    },
  );

  app.get("/a2v/requests", { schema: { summary: "This key's requests, newest first" } }, async (req) => {
    const key = await auth(req);
    const ids = await redis.zrevrange(`${prefix}:svc:owner:${key.id}`, 0, 99);
    const out: Status[] = [];
    for (const id of ids) {
      const rec = await redis.hgetall(keys.request(id));
      out.push(
        await status(req, id, rec, false).catch(() => ({
          request_id: id,
          status: "FAILED" as const,
          response_url: "",
        })),
      );
    }
    return { requests: out };
  });

  const statusHandler = async (req: FastifyRequest, reply: FastifyReply, sse: boolean) => {
    const { id } = req.params as { id: string };
    const { rec } = await owned(req, id);
    const logs = ["1", "true"].includes(String((req.query as { logs?: string }).logs ?? ""));
    if (!sse) return reply.send(await status(req, id, rec, logs));
    reply.hijack();
    const raw = reply.raw;
    raw.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache", connection: "keep-alive" });
    let closed = false;
    req.raw.on("close", () => {
      closed = true;
    });
    let last = "";
    while (!closed) {
      const s = await status(req, id, rec, logs).catch(() => undefined);
      if (s) {
        const text = JSON.stringify(s);
        if (text !== last) raw.write(`data: ${text}\n\n`);
        last = text;
        if (s.status === "COMPLETED" || s.status === "FAILED") break;
      }
      await new Promise((r) => setTimeout(r, opts.ssePollMs ?? 500));
    }
    raw.end();
  };
  const statusSchema = {
    summary: "Status (IN_QUEUE | IN_PROGRESS | COMPLETED | FAILED); server-sent events with Accept: text/event-stream",
    params: idParams,
    querystring: { type: "object", properties: { logs: { type: "string" } } },
    response: { 200: json(StatusSchema) },
  };
  app.get("/a2v/requests/:id/status", { schema: statusSchema }, (req, reply) =>
    statusHandler(req, reply, (req.headers.accept ?? "").includes("text/event-stream")),
  );
  app.get(
    "/a2v/requests/:id/status/stream",
    { schema: { ...statusSchema, summary: "Server-sent status events" } },
    (req, reply) => statusHandler(req, reply, true),
  );

  app.get(
    "/a2v/requests/:id",
    {
      schema: {
        summary: "The outputs (URLs) and billing",
        params: idParams,
        response: { 200: json(ResultSchema), "4xx": json(ErrorSchema), "5xx": json(ErrorSchema) },
      },
    },
    async (req, reply) => {
      const { id } = req.params as { id: string };
      const { rec } = await owned(req, id);
      const s = await status(req, id, rec, false);
      if (s.status === "FAILED")
        return reply
          .status(s.error?.status && s.error.status < 600 ? s.error.status : 500)
          .send({ ...s.error, billing: s.billing });
      if (s.status !== "COMPLETED")
        return reply
          .status(409)
          .send({ status: 409, code: "not_completed", message: `request is ${s.status}`, details: [] });
      const job = (await queue.getJob(id)) as Job<JobData, JobResult>;
      const result = job.returnvalue;
      const out: Record<string, unknown> = { billing: result.billing };
      for (const field of OUTPUT_FIELDS) {
        const name = result.files[field];
        if (!name) continue;
        const path = join(requestDir(opts.store, id), result.dir, name);
        const size = (await stat(path)).size;
        const ext = name.slice(name.lastIndexOf("."));
        out[field] = {
          url: `${urls(req, id).response_url}/files/${field}`,
          file_name: name.split("/").pop(),
          content_type: FILE_TYPES[ext] ?? "application/octet-stream",
          file_size: size,
        };
      }
      return out;
    },
  );

  app.get(
    "/a2v/requests/:id/files/:field",
    {
      schema: {
        summary: "Download one output file",
        params: { ...idParams, properties: { id: { type: "string" }, field: { type: "string" } } },
      },
    },
    async (req, reply) => {
      const { id, field } = req.params as { id: string; field: string };
      await owned(req, id);
      if (!(OUTPUT_FIELDS as readonly string[]).includes(field))
        throw new A2VError("not_found", `no output ${field}`, { status: 404 });
      const job = (await queue.getJob(id)) as Job<JobData, JobResult> | undefined;
      const name = job?.returnvalue?.files?.[field as OutputField];
      if (!job || !name || (await job.getState()) !== "completed")
        throw new A2VError("not_found", `no output ${field} for ${id}`, { status: 404 });
      const path = join(requestDir(opts.store, id), job.returnvalue.dir, name);
      if (!existsSync(path)) throw new A2VError("not_found", `output ${field} is gone from the store`, { status: 404 });
      const ext = name.slice(name.lastIndexOf("."));
      return reply
        .type(FILE_TYPES[ext] ?? "application/octet-stream")
        .header("content-disposition", `attachment; filename="${name.split("/").pop()}"`)
        .header("content-length", (await stat(path)).size)
        .send(createReadStream(path));
    },
  );

  app.put(
    "/a2v/requests/:id/cancel",
    { schema: { summary: "Cancel a queued or running training", params: idParams } },
    async (req, reply) => {
      const { id } = req.params as { id: string };
      await owned(req, id);
      const job = await queue.getJob(id);
      const state = job ? await job.getState() : "unknown";
      if (state === "completed" || state === "failed" || !job)
        return reply.status(400).send({ status: "ALREADY_COMPLETED" });
      await redis.set(keys.cancel(id), "1", "EX", 7 * 86_400);
      if (state !== "active") {
        try {
          await job.remove();
          await redis.hset(keys.request(id), "cancelled", "1");
        } catch {
          // It became active meanwhile: its worker sees the flag within a poll and stops at a step boundary.
        }
      }
      return reply.status(202).send({ status: "CANCELLATION_REQUESTED" });
    },
  );

  const close = async () => {
    await app.close();
    await queue.close();
    await redis.quit().catch(() => {});
  };
  return { app: app as unknown as FastifyInstance, queue, close };
}

/** The service fetches only http(s) URLs: file:// URLs and local paths are the CLI's and SDK's, never a tenant's. */
function checkRemoteUrls(body: Record<string, unknown>, fields = ["training_data_url"]): void {
  const details: A2VErrorDetail[] = [];
  const check = (value: unknown, path: (string | number)[]) => {
    if (typeof value !== "string") return;
    let ok = false;
    try {
      const u = new URL(value);
      ok = u.protocol === "http:" || u.protocol === "https:";
    } catch {}
    if (!ok)
      details.push({ code: "url_scheme_not_allowed", path, message: `${path.join(".")} must be an http(s) URL` });
  };
  for (const f of fields) check(body[f], [f]);
  const validation = Array.isArray(body.validation) ? body.validation : [];
  validation.forEach((v: Record<string, unknown>, i: number) => {
    check(v?.image_url, ["validation", i, "image_url"]);
    check(v?.audio_url, ["validation", i, "audio_url"]);
  });
  if (details.length > 0)
    throw new A2VError("invalid_input", "the service fetches only http(s) URLs", { status: 422, details });
}
