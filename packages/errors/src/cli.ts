import { A2VError, isA2VError } from "./error.js";
import { printable } from "./printable.js";

/** Exit codes of every a2v command: 0 success, 1 failure, 2 usage error, 3 input or data rejected (HTTP 422). */
export const EXIT = { ok: 0, failure: 1, usage: 2, rejected: 3 } as const;

/** Where a command writes: stdout for results (one JSON document with --json), stderr for messages and errors. */
export interface ErrorOut {
  stdout: (s: string) => void;
  stderr: (s: string) => void;
}

/** Node's codes for file-system and file-URL failures a user can act on, and the rule each one breaks. */
const SYSTEM_RULES: Record<string, { code: string; status: number; rule: string }> = {
  ENOENT: { code: "path_not_found", status: 422, rule: "no such file or folder" },
  EEXIST: { code: "path_exists", status: 422, rule: "already exists" },
  ENOTDIR: { code: "not_a_directory", status: 422, rule: "a part of the path is not a folder" },
  EISDIR: { code: "is_a_directory", status: 422, rule: "is a folder, a file was expected" },
  EACCES: { code: "permission_denied", status: 422, rule: "permission denied" },
  EPERM: { code: "permission_denied", status: 422, rule: "operation not permitted" },
  EROFS: { code: "read_only_file_system", status: 422, rule: "read-only file system" },
  ENOSPC: { code: "disk_full", status: 500, rule: "no space left on the device" },
  ENAMETOOLONG: { code: "path_too_long", status: 422, rule: "file name too long" },
  ERR_INVALID_FILE_URL_HOST: {
    code: "file_url_host",
    status: 422,
    rule: "a file:// URL must not name a host (use file:///path or file://localhost/path)",
  },
  ERR_INVALID_FILE_URL_PATH: {
    code: "file_url_path",
    status: 422,
    rule: "a file:// URL path must not contain an encoded slash (%2F)",
  },
  ERR_INVALID_URL_SCHEME: { code: "file_url_scheme", status: 422, rule: "the URL is not a file:// URL" },
};

/**
 * A Node system error (ENOENT, EEXIST, EACCES, …) or file-URL error (ERR_INVALID_FILE_URL_HOST/PATH) as an
 * `A2VError` whose code names the rule and whose message and details name the path; undefined for anything else.
 * `what` says whose path it is (e.g. "output folder"), `file` overrides the path Node reported.
 */
export function fromSystemError(error: unknown, context: { what?: string; file?: string } = {}): A2VError | undefined {
  if (!(error instanceof Error) || !("code" in error) || typeof error.code !== "string") return undefined;
  const rule = SYSTEM_RULES[error.code];
  if (!rule) return undefined;
  const path = context.file ?? ("path" in error && typeof error.path === "string" ? error.path : undefined);
  const subject = [context.what, path].filter(Boolean).join(" ");
  const message = subject ? `${subject}: ${rule.rule}` : `${rule.rule} (${error.message})`;
  return new A2VError(rule.code, message, {
    status: rule.status,
    details: [{ code: error.code, message: error.message, ...(path ? { file: path } : {}) }],
    cause: error,
  });
}

/**
 * Any thrown value as an `A2VError`: itself, a mapped system error, a `usage` error for Node's argument parser,
 * else `internal` (status 500) carrying the original as its cause.
 */
export function toA2VError(error: unknown): A2VError {
  if (isA2VError(error)) return error;
  const system = fromSystemError(error);
  if (system) return system;
  if (error instanceof Error && "code" in error && String(error.code).startsWith("ERR_PARSE_ARGS")) {
    return new A2VError("usage", error.message, { status: 400, cause: error });
  }
  const message = error instanceof Error ? error.message : String(error);
  return new A2VError("internal", message || "unexpected error", { status: 500, cause: error });
}

/** The exit code for an error: 2 for our own argument errors, 3 for 422 rejections, else 1. */
export function exitCodeFor(error: A2VError): number {
  // Only our own argument errors are usage errors; other 400s (e.g. download_failed) are failures.
  if (error.code === "usage") return EXIT.usage;
  return error.status === 422 ? EXIT.rejected : EXIT.failure;
}

/**
 * Reports a failed command the way every a2v command does and returns its exit code. With `json`, one JSON object
 * on stdout (`{ status, code, message, details }`, also for unexpected errors: `{ status: 500, code: "internal" }`);
 * else `error [code]: message` and one line per detail on stderr (usage errors add `usage`, internal ones the stack).
 */
export function reportError(thrown: unknown, out: ErrorOut, options: { json?: boolean; usage?: string } = {}): number {
  const error = toA2VError(thrown);
  if (options.json) {
    out.stdout(JSON.stringify(error.toJSON(), null, 2));
    return exitCodeFor(error);
  }
  if (error.code === "usage") {
    out.stderr(options.usage ? `${error.message}\n\n${options.usage}` : error.message);
    return EXIT.usage;
  }
  // Names from an uploaded archive may carry bidi overrides or control characters: escaped on a terminal.
  out.stderr(`error [${error.code}]: ${printable(error.message)}`);
  for (const d of error.details) {
    const where = d.file ?? d.group ?? d.path?.join(".");
    out.stderr(`  - ${where ? `${printable(where)}: ` : ""}${printable(d.message)} [${d.code}]`);
  }
  if (error.code === "internal" && error.cause instanceof Error && error.cause.stack) out.stderr(error.cause.stack);
  return exitCodeFor(error);
}
