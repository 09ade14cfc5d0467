import { createHash, randomBytes } from "node:crypto";
import { join, resolve } from "node:path";
import { A2VError, type A2VErrorDetail, isA2VError } from "@a2v/errors";
import type { Redis } from "ioredis";

/** The BullMQ queue every API and worker of one deployment shares. */
export const QUEUE_NAME = "a2v";

/** Redis connection options for BullMQ from a `redis://` URL (workers need `maxRetriesPerRequest: null`). */
export function bullConnection(url: string) {
  return { url, maxRetriesPerRequest: null };
}

/** Names of the service's own Redis keys (beside BullMQ's, under the same prefix). */
export function serviceKeys(prefix: string) {
  return {
    apiKey: (hash: string) => `${prefix}:svc:apikey:${hash}`,
    request: (id: string) => `${prefix}:svc:req:${id}`,
    idempotency: (owner: string, key: string) => `${prefix}:svc:idem:${owner}:${sha256(key)}`,
    running: (owner: string) => `${prefix}:svc:running:${owner}`,
    fence: (id: string) => `${prefix}:svc:fence:${id}`,
    cancel: (id: string) => `${prefix}:svc:cancel:${id}`,
    /** BullMQ's wait list (LPUSH on add, RPOPLPUSH by workers): the queue position is the count to its right. */
    wait: `${prefix}:${QUEUE_NAME}:wait`,
  };
}
export type ServiceKeys = ReturnType<typeof serviceKeys>;

export const sha256 = (text: string) => createHash("sha256").update(text).digest("hex");

/** What an API key is allowed: its owner id (the key's hash prefix) and how many of its jobs may train at once. */
export interface ApiKeyRecord {
  id: string;
  name: string;
  maxRunning: number;
}

/** Creates an API key; only its SHA-256 is stored. Returns the key, shown once. */
export async function createApiKey(
  redis: Redis,
  prefix: string,
  opts: { name?: string; maxRunning?: number } = {},
): Promise<{ key: string; record: ApiKeyRecord }> {
  const key = `a2v_${randomBytes(24).toString("base64url")}`;
  const hash = sha256(key);
  const record: ApiKeyRecord = { id: hash.slice(0, 16), name: opts.name ?? "", maxRunning: opts.maxRunning ?? 2 };
  await redis.set(serviceKeys(prefix).apiKey(hash), JSON.stringify(record));
  return { key, record };
}

export async function lookupApiKey(redis: Redis, prefix: string, key: string): Promise<ApiKeyRecord | undefined> {
  const raw = await redis.get(serviceKeys(prefix).apiKey(sha256(key)));
  return raw ? (JSON.parse(raw) as ApiKeyRecord) : undefined;
}

/** What a queued job carries. */
export interface JobData {
  requestId: string;
  owner: string;
  /** The training input as submitted (checked by the API; train() applies the defaults again). */
  input: Record<string, unknown>;
  maxRunning: number;
  createdAt: number;
  webhookUrl?: string;
}

/** Output files of a request, by output field, as names inside its attempt directory. */
export const OUTPUT_FIELDS = ["lora_file", "config_file", "video", "debug_dataset"] as const;
export type OutputField = (typeof OUTPUT_FIELDS)[number];

/** The job's return value: where its outputs are in the store, and what it cost. */
export interface JobResult {
  attempt: number;
  dir: string;
  files: Partial<Record<OutputField, string>>;
  billing: { units: number; usd: number };
  metrics: { finalLoss?: number; evaluation?: { before: number; after: number }; stageSeconds?: unknown };
}

/** Progress a worker publishes on the job. */
export interface JobProgress {
  stage?: string;
  step?: number;
  steps?: number;
  loss?: number;
  eta_seconds?: number;
  worker?: string;
  attempt?: number;
  /** false while the key's running cap holds the job back (the API reports it IN_QUEUE). */
  admitted?: boolean;
}

export interface WireError {
  status: number;
  code: string;
  message: string;
  details: A2VErrorDetail[];
}

export function toWireError(e: unknown): WireError {
  if (isA2VError(e)) return e.toJSON();
  if (e && typeof e === "object" && "code" in e && "status" in e) return e as WireError;
  return { status: 500, code: "internal", message: e instanceof Error ? e.message : String(e), details: [] };
}

/** A failed job's reason is the wire error as JSON; anything else (a BullMQ message) is an internal error. */
export function parseFailedReason(reason: string | undefined): WireError {
  try {
    const parsed = JSON.parse(reason ?? "");
    if (parsed && typeof parsed.code === "string") return { details: [], ...parsed };
  } catch {}
  return { status: 500, code: "internal", message: reason ?? "failed", details: [] };
}

/**
 * A failed attempt as BullMQ records it: BullMQ keeps only the thrown error's message as the job's `failedReason`,
 * so the message is the wire error as JSON (`parseFailedReason` reads it back). Thrown to have the job retried.
 */
export function jobError(error: WireError): A2VError {
  return new A2VError(error.code, JSON.stringify(error), { status: error.status, details: error.details });
}

export const requestDir = (store: string, id: string) => join(resolve(store), "requests", id);
export const attemptDirName = (attempt: number) => `attempt-${String(attempt).padStart(3, "0")}`;

export function cancelledError(): A2VError {
  return new A2VError("cancelled", "the request was cancelled", { status: 499 });
}

/**
 * Admission (BullMQ OSS has no per-tenant concurrency): a job may start when its owner has fewer than `cap` live
 * leases. Leases are a sorted set of request ids scored by expiry, so a dead worker's lease lapses by itself.
 * KEYS[1] running set; ARGV: request id, cap, now (ms), lease (ms). Returns 1 when admitted.
 */
export const ADMIT_SCRIPT = `
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[3])
if redis.call('ZSCORE', KEYS[1], ARGV[1]) or redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[2]) then
  redis.call('ZADD', KEYS[1], tonumber(ARGV[3]) + tonumber(ARGV[4]), ARGV[1])
  redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[4]) * 2)
  return 1
end
return 0`;

export async function admit(
  redis: Redis,
  keys: ServiceKeys,
  owner: string,
  id: string,
  cap: number,
  leaseMs: number,
): Promise<boolean> {
  const r = await redis.eval(ADMIT_SCRIPT, 1, keys.running(owner), id, cap, Date.now(), leaseMs);
  return r === 1;
}
