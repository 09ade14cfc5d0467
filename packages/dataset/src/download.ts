import { lookup as dnsLookup, type LookupAddress } from "node:dns";
import { createWriteStream } from "node:fs";
import http from "node:http";
import https from "node:https";
import { isIP, type LookupFunction } from "node:net";
import { Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { A2VError } from "@a2v/errors";
import { isNonPublicAddress } from "./address-guard.js";
import { DatasetErrorCodes } from "./codes.js";
import type { DatasetProgress, DownloadLimits } from "./types.js";

export interface DownloadRequest {
  url: URL;
  dest: string;
  maxBytes: number;
  limits: DownloadLimits;
  allowPrivateNetwork: boolean;
  onProgress: (event: DatasetProgress) => void;
}

/** Why the client stopped a transfer (deadline, minimum rate, timeouts): the message says it. */
class DownloadStop extends Error {}

/** Progress is reported at most once per this many bytes (plus once at the end). */
const PROGRESS_STEP_BYTES = 256 * 1024;

/** The URL without credentials or query string, safe to print (signed URLs carry secrets). */
export function redactUrl(url: URL): string {
  const shown = new URL(url.href);
  shown.username = "";
  shown.password = "";
  const hadQuery = shown.search !== "";
  shown.search = "";
  shown.hash = "";
  return hadQuery ? `${shown.href}?…` : shown.href;
}

/**
 * Streams an http(s) URL to `dest`, following at most `maxRedirects` redirects. Every hop is
 * checked against the private-network guard, at DNS resolution time so a rebinding name cannot
 * slip through. Throws `download_failed` naming the URL and the cause.
 */
export async function downloadToFile(request: DownloadRequest): Promise<{ bytes: number }> {
  // One deadline for the whole download (every hop, headers and body): a server that drips a byte
  // every few seconds never trips the idle timeout, and must not hold the run for ever.
  const { deadlineMs } = request.limits;
  const deadline = new AbortController();
  const timer = setTimeout(
    () => deadline.abort(new DownloadStop(`the download took longer than its ${deadlineMs} ms deadline`)),
    deadlineMs,
  );
  try {
    return await downloadWithin(request, deadline);
  } finally {
    clearTimeout(timer);
  }
}

async function downloadWithin(request: DownloadRequest, deadline: AbortController): Promise<{ bytes: number }> {
  let url = request.url;
  for (let hop = 0; ; hop++) {
    const response = await openHop(url, request, deadline.signal).catch((cause: unknown) => {
      throw downloadFailed(request.url, url, describe(cause, deadline.signal), cause);
    });
    const { statusCode = 0, headers } = response;
    if (statusCode >= 300 && statusCode < 400 && headers.location) {
      response.destroy();
      if (hop >= request.limits.maxRedirects) {
        throw downloadFailed(request.url, url, `more than ${request.limits.maxRedirects} redirects`);
      }
      url = new URL(headers.location, url);
      continue;
    }
    if (statusCode < 200 || statusCode >= 300) {
      response.destroy();
      throw downloadFailed(request.url, url, `HTTP ${statusCode} ${response.statusMessage ?? ""}`.trim());
    }
    const declared = headers["content-length"] === undefined ? undefined : Number(headers["content-length"]);
    if (declared !== undefined && declared > request.maxBytes) {
      response.destroy();
      throw tooLarge(request.url, declared, request.maxBytes);
    }
    return await saveBody(response, request, declared, deadline);
  }
}

function openHop(url: URL, request: DownloadRequest, signal: AbortSignal): Promise<http.IncomingMessage> {
  const { limits, allowPrivateNetwork } = request;
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    return Promise.reject(new DownloadStop(`unsupported scheme ${url.protocol} (only http and https are fetched)`));
  }
  const host = url.hostname.replace(/^\[|\]$/g, "");
  // IP literals bypass DNS lookup, so they are checked here; names are checked in guardedLookup.
  if (!allowPrivateNetwork && isIP(host) && isNonPublicAddress(host)) {
    return Promise.reject(privateAddressError(host, host));
  }
  const client = url.protocol === "https:" ? https : http;
  return new Promise((resolve, reject) => {
    const req = client.get(url, {
      agent: false,
      lookup: allowPrivateNetwork ? undefined : guardedLookup,
      headers: { "user-agent": "a2v-dataset", accept: "*/*" },
      signal,
    });
    // The status line and headers must all arrive within headersTimeoutMs, however they trickle in.
    const headersTimer = setTimeout(
      () => req.destroy(new DownloadStop(`no complete response headers within ${limits.headersTimeoutMs} ms`)),
      limits.headersTimeoutMs,
    );
    req.once("close", () => clearTimeout(headersTimer));
    req.on("socket", (socket) => {
      if (!socket.connecting) return;
      const timer = setTimeout(
        () => req.destroy(new DownloadStop(`connect timed out after ${limits.connectTimeoutMs} ms`)),
        limits.connectTimeoutMs,
      );
      socket.once(url.protocol === "https:" ? "secureConnect" : "connect", () => clearTimeout(timer));
      socket.once("close", () => clearTimeout(timer));
    });
    // An idle socket fails the request before the headers, and the body stream after them.
    let response: http.IncomingMessage | undefined;
    req.setTimeout(limits.readTimeoutMs, () => {
      const error = new DownloadStop(`no data for ${limits.readTimeoutMs} ms (read timeout)`);
      if (response) response.destroy(error);
      else req.destroy(error);
    });
    req.once("response", (res) => {
      clearTimeout(headersTimer);
      response = res;
      resolve(res);
    });
    req.once("error", reject);
  });
}

async function saveBody(
  response: http.IncomingMessage,
  request: DownloadRequest,
  declared: number | undefined,
  deadline: AbortController,
): Promise<{ bytes: number }> {
  const { minBytesPerSecond, rateWindowMs } = request.limits;
  let bytes = 0;
  // Minimum rate: once a full window has passed, the bytes of the last window must average at least
  // minBytesPerSecond (an endless trickle is stopped long before the deadline).
  const marks: { at: number; bytes: number }[] = [{ at: Date.now(), bytes: 0 }];
  const rateCheck = setInterval(
    () => {
      const now = Date.now();
      marks.push({ at: now, bytes });
      while (marks.length > 1 && now - marks[1]!.at >= rateWindowMs) marks.shift();
      const from = marks[0]!;
      if (now - from.at < rateWindowMs || minBytesPerSecond <= 0) return;
      const rate = ((bytes - from.bytes) * 1000) / (now - from.at);
      if (rate < minBytesPerSecond) {
        deadline.abort(
          new DownloadStop(
            `the transfer is slower than ${minBytesPerSecond} bytes/s (${Math.round(rate)} bytes/s over the last ${rateWindowMs} ms)`,
          ),
        );
      }
    },
    Math.max(50, Math.min(1000, rateWindowMs / 4)),
  );
  let reported = 0;
  const report = () => {
    reported = bytes;
    request.onProgress({ phase: "download", bytes, ...(declared === undefined ? {} : { totalBytes: declared }) });
  };
  const meter = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      bytes += chunk.length;
      if (bytes > request.maxBytes) {
        callback(tooLarge(request.url, bytes, request.maxBytes));
        return;
      }
      if (bytes - reported >= PROGRESS_STEP_BYTES) report();
      callback(null, chunk);
    },
  });
  try {
    await pipeline(response, meter, createWriteStream(request.dest), { signal: deadline.signal });
  } catch (cause) {
    if (cause instanceof A2VError) throw cause;
    throw downloadFailed(request.url, request.url, describe(cause, deadline.signal), cause);
  } finally {
    clearInterval(rateCheck);
  }
  if (declared !== undefined && bytes !== declared) {
    throw downloadFailed(request.url, request.url, `connection closed after ${bytes} of ${declared} bytes`);
  }
  report();
  return { bytes };
}

/** dns.lookup that refuses names resolving to any non-public address (checked at connect time). */
const guardedLookup: LookupFunction = (hostname, options, callback) => {
  dnsLookup(hostname, { ...options, all: true }, (error, addresses: LookupAddress[]) => {
    if (error) return callback(error, "", 0);
    const blocked = addresses.find((a) => isNonPublicAddress(a.address));
    if (blocked) return callback(privateAddressError(hostname, blocked.address), "", 0);
    if (options.all) return (callback as unknown as (e: null, a: LookupAddress[]) => void)(null, addresses);
    const first = addresses[0]!;
    callback(null, first.address, first.family);
  });
};

function privateAddressError(host: string, address: string): NodeJS.ErrnoException {
  const error: NodeJS.ErrnoException = new DownloadStop(
    `${host} resolves to ${address}, a loopback/private/link-local address; refused (allowPrivateNetwork is off)`,
  );
  error.code = "EA2VPRIVATE";
  return error;
}

function describe(cause: unknown, signal?: AbortSignal): string {
  // An abort surfaces as an AbortError; the reason given to abort() says why.
  if (signal?.aborted && signal.reason instanceof DownloadStop) return signal.reason.message;
  if (cause instanceof DownloadStop && (cause as NodeJS.ErrnoException).code === undefined) return cause.message;
  if (cause instanceof Error) {
    const code = (cause as NodeJS.ErrnoException).code;
    return code && code !== "EA2VPRIVATE" && !cause.message.includes(code)
      ? `${cause.message} (${code})`
      : cause.message;
  }
  return String(cause);
}

function downloadFailed(requested: URL, current: URL, reason: string, cause?: unknown): A2VError {
  const where = current.href === requested.href ? "" : ` (redirected to ${redactUrl(current)})`;
  const message = `could not download ${redactUrl(requested)}${where}: ${reason}`;
  return new A2VError(DatasetErrorCodes.downloadFailed, message, {
    status: 400,
    details: [{ code: DatasetErrorCodes.downloadFailed, file: redactUrl(requested), message }],
    cause,
  });
}

function tooLarge(url: URL, bytes: number, cap: number): A2VError {
  const message = `${redactUrl(url)} is larger than the ${cap}-byte archive cap (${bytes} bytes or more)`;
  return new A2VError(DatasetErrorCodes.archiveTooLarge, message, {
    status: 422,
    details: [{ code: DatasetErrorCodes.archiveTooLarge, file: redactUrl(url), message }],
  });
}
