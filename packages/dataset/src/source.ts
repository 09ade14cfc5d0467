import { stat } from "node:fs/promises";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { A2VError } from "@a2v/errors";
import { DatasetErrorCodes } from "./codes.js";
import { downloadToFile, redactUrl } from "./download.js";
import type { ResolvedOptions } from "./options.js";

export interface LocalArchive {
  /** Path of the zip on disk (a download lands inside `workDir`). */
  path: string;
  bytes: number;
  /** The source as it may be printed. */
  label: string;
}

/**
 * Turns `training_data_url` (http(s) URL, file:// URL or local path) into a zip on local disk,
 * downloading into `workDir` when needed.
 */
export async function fetchArchive(source: string, workDir: string, options: ResolvedOptions): Promise<LocalArchive> {
  const url = parseUrl(source);
  if (url && (url.protocol === "http:" || url.protocol === "https:")) {
    const dest = join(workDir, "archive.zip");
    const { bytes } = await downloadToFile({
      url,
      dest,
      maxBytes: options.caps.maxArchiveBytes,
      limits: options.download,
      allowPrivateNetwork: options.allowPrivateNetwork,
      onProgress: options.onProgress,
    });
    return { path: dest, bytes, label: redactUrl(url) };
  }
  if (url && url.protocol !== "file:") {
    throw unreadable(source, `unsupported URL scheme ${url.protocol} (use http, https, file or a local path)`);
  }
  const path = url ? fileURLToPath(url) : resolve(source);
  const info = await stat(path).catch((cause: NodeJS.ErrnoException) => {
    throw unreadable(source, cause.code === "ENOENT" ? "no such file" : cause.message, cause);
  });
  if (!info.isFile()) throw unreadable(source, "not a regular file (expected a .zip archive)");
  if (info.size > options.caps.maxArchiveBytes) {
    const message = `${source} is ${info.size} bytes, over the ${options.caps.maxArchiveBytes}-byte archive cap`;
    throw new A2VError(DatasetErrorCodes.archiveTooLarge, message, {
      status: 422,
      details: [{ code: DatasetErrorCodes.archiveTooLarge, file: source, message }],
    });
  }
  return { path, bytes: info.size, label: source };
}

/** A URL only when the string has a scheme of two or more letters (so "C:\\x.zip" stays a path). */
function parseUrl(source: string): URL | undefined {
  if (!/^[a-z][a-z0-9+.-]+:/i.test(source)) return undefined;
  try {
    return new URL(source);
  } catch {
    return undefined;
  }
}

function unreadable(source: string, reason: string, cause?: unknown): A2VError {
  const message = `could not read ${source}: ${reason}`;
  return new A2VError(DatasetErrorCodes.downloadFailed, message, {
    status: 400,
    details: [{ code: DatasetErrorCodes.downloadFailed, file: source, message }],
    cause,
  });
}
