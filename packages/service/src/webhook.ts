import { createHmac } from "node:crypto";
import { lookup as dnsLookup, type LookupAddress } from "node:dns";
import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";
import { isIP } from "node:net";
import { isNonPublicAddress } from "@a2v/dataset";
import { A2VError, isA2VError } from "@a2v/errors";

/** `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`, as the `X-A2V-Signature` header carries it. */
export function signWebhook(secret: string, body: string, timestamp = Math.floor(Date.now() / 1000)): string {
  const mac = createHmac("sha256", secret).update(`${timestamp}.${body}`).digest("hex");
  return `t=${timestamp},v1=${mac}`;
}

/** Checks a signature (and that it is at most `toleranceSeconds` old). */
export function verifyWebhook(secret: string, body: string, header: string, toleranceSeconds = 300): boolean {
  const parts = Object.fromEntries(header.split(",").map((p) => p.split("=", 2) as [string, string]));
  const t = Number(parts.t);
  if (!Number.isFinite(t) || Math.abs(Date.now() / 1000 - t) > toleranceSeconds) return false;
  return signWebhook(secret, body, t) === header;
}

/** dns.lookup that refuses names resolving to a non-public address (checked at connect time: no rebinding gap). */
const guardedLookup = ((
  host: string,
  options: { all?: boolean },
  cb: (e: Error | null, a: string | LookupAddress[], f?: number) => void,
) => {
  dnsLookup(host, { ...options, all: true }, (e, addresses) => {
    if (e) return cb(e, []);
    const blocked = addresses.find((a) => isNonPublicAddress(a.address));
    if (blocked) return cb(new A2VError("webhook_private_address", `${host} resolves to ${blocked.address}`), []);
    if (options.all) return cb(null, addresses);
    cb(null, addresses[0]!.address, addresses[0]!.family);
  });
}) as unknown as typeof dnsLookup;

function post(url: URL, body: string, headers: Record<string, string>, allowPrivateNetwork: boolean): Promise<number> {
  if (
    !allowPrivateNetwork &&
    isIP(url.hostname.replace(/^\[|\]$/g, "")) &&
    isNonPublicAddress(url.hostname.replace(/^\[|\]$/g, ""))
  )
    return Promise.reject(new A2VError("webhook_private_address", `${url.hostname} is not a public address`));
  const request = url.protocol === "https:" ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method: "POST",
        headers: { ...headers, "content-length": Buffer.byteLength(body) },
        timeout: 10_000,
        ...(allowPrivateNetwork ? {} : { lookup: guardedLookup }),
      },
      (res) => {
        res.resume();
        res.on("end", () => resolve(res.statusCode ?? 0));
      },
    );
    req.on("timeout", () =>
      req.destroy(new A2VError("webhook_timeout", `${url.host} did not answer within 10 s`, { status: 504 })),
    );
    req.on("error", reject);
    req.end(body);
  });
}

/** Failures worth another try: the receiver timed out, answered non-2xx, or the network failed (not an A2VError). */
const RETRIED = new Set(["webhook_timeout", "webhook_rejected"]);

/**
 * POSTs the signed body (http(s) only; private addresses refused unless `allowPrivateNetwork`); retried with
 * exponential backoff on network errors, timeouts and non-2xx answers. Rejects with an `A2VError`:
 * `url_scheme_not_allowed` or `webhook_private_address` at once, else `webhook_failed` (502) after the last try.
 */
export async function deliverWebhook(
  url: string,
  payload: unknown,
  secret: string,
  opts: { attempts?: number; baseDelayMs?: number; allowPrivateNetwork?: boolean; log?: (line: string) => void } = {},
): Promise<void> {
  const target = new URL(url);
  if (target.protocol !== "http:" && target.protocol !== "https:")
    throw new A2VError("url_scheme_not_allowed", "webhooks go to http(s) URLs only", { status: 422 });
  const body = JSON.stringify(payload);
  const attempts = opts.attempts ?? 5;
  for (let i = 0; ; i++) {
    try {
      const headers = { "content-type": "application/json", "x-a2v-signature": signWebhook(secret, body) };
      const status = await post(target, body, headers, opts.allowPrivateNetwork ?? false);
      if (status >= 200 && status < 300) return;
      throw new A2VError("webhook_rejected", `HTTP ${status}`, { status: 502 });
    } catch (e) {
      if (isA2VError(e) && !RETRIED.has(e.code)) throw e;
      const reason = e instanceof Error ? e.message : String(e);
      if (i + 1 >= attempts) {
        throw new A2VError("webhook_failed", `webhook ${target.host}: ${reason} (after ${attempts} tries)`, {
          status: 502,
          cause: e,
        });
      }
      opts.log?.(`webhook ${url}: ${reason}, retrying`);
      await new Promise((r) => setTimeout(r, (opts.baseDelayMs ?? 1000) * 2 ** i));
    }
  }
}
