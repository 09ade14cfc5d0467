import { createHmac } from "node:crypto";

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

/** POSTs the signed body; retried with exponential backoff on network errors and non-2xx answers. */
export async function deliverWebhook(
  url: string,
  payload: unknown,
  secret: string,
  opts: { attempts?: number; baseDelayMs?: number; log?: (line: string) => void } = {},
): Promise<void> {
  const body = JSON.stringify(payload);
  const attempts = opts.attempts ?? 5;
  for (let i = 0; ; i++) {
    try {
      const res = await fetch(url, {
        method: "POST",
        headers: { "content-type": "application/json", "x-a2v-signature": signWebhook(secret, body) },
        body,
        signal: AbortSignal.timeout(10_000),
      });
      if (res.ok) return;
      throw new Error(`HTTP ${res.status}`);
    } catch (e) {
      if (i + 1 >= attempts) throw e;
      opts.log?.(`webhook ${url}: ${(e as Error).message}, retrying`);
      await new Promise((r) => setTimeout(r, (opts.baseDelayMs ?? 1000) * 2 ** i));
    }
  }
}
