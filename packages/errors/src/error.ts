/** A machine-readable problem attached to an error, e.g. one offending field or one bad file. */
export interface A2VErrorDetail {
  code: string;
  message: string;
  /** Input field path (schema errors). */
  path?: (string | number)[];
  /** Dataset group base name. */
  group?: string;
  /** File inside the archive or on disk. */
  file?: string;
}

export interface A2VErrorOptions {
  status?: number;
  details?: A2VErrorDetail[];
  cause?: unknown;
}

/**
 * The base of every error a2v throws. `status` maps to HTTP (422 for bad input or data,
 * 500 otherwise), `code` is stable and machine-readable, `details` lists every problem found.
 */
export class A2VError extends Error {
  readonly status: number;
  readonly code: string;
  readonly details: A2VErrorDetail[];

  constructor(code: string, message: string, options: A2VErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "A2VError";
    this.code = code;
    this.status = options.status ?? 500;
    this.details = options.details ?? [];
  }

  /** The wire form used by `--json` output and HTTP bodies. */
  toJSON(): { status: number; code: string; message: string; details: A2VErrorDetail[] } {
    return { status: this.status, code: this.code, message: this.message, details: this.details };
  }
}

/** True for any A2VError, also across duplicated module instances. */
export function isA2VError(value: unknown): value is A2VError {
  return value instanceof A2VError || (value instanceof Error && value.name === "A2VError" && "code" in value);
}
