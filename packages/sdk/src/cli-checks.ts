import { stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { A2VError, fromSystemError } from "@a2v/errors";

/**
 * Checks a command makes before any work, so that what Node would throw later (ERR_INVALID_FILE_URL_*, EEXIST,
 * ENOENT under a missing TMPDIR) reaches the user as an A2VError whose code names the rule and whose message and
 * details name the file.
 */
export interface Preflight {
  /** A dataset source: a file:// URL must convert to a local path (no host, no encoded slash). */
  source?: string;
  /** An output folder: it may be missing (it is created) but must not be anything other than a folder. */
  outDir?: string;
  /** The command writes temp files: the OS temp folder (TMPDIR) must exist and be a folder. */
  temp?: boolean;
}

export async function preflight(checks: Preflight): Promise<void> {
  if (checks.source !== undefined) checkFileUrl(checks.source);
  if (checks.outDir !== undefined) await checkOutDir(checks.outDir);
  if (checks.temp) await checkTmpdir();
}

/** `file://host/x.zip` and `file:///a%2Fb.zip` are refused as file_url_host / file_url_path, naming the URL. */
export function checkFileUrl(source: string): void {
  if (!/^file:/i.test(source)) return;
  let url: URL;
  try {
    url = new URL(source);
  } catch (cause) {
    throw new A2VError("file_url_invalid", `${source}: not a valid file:// URL`, {
      status: 422,
      details: [{ code: "file_url_invalid", message: "the URL does not parse", file: source }],
      cause,
    });
  }
  try {
    fileURLToPath(url);
  } catch (cause) {
    throw fromSystemError(cause, { what: "dataset URL", file: source }) ?? cause;
  }
}

/** An existing file (or anything but a folder) given as an output folder: output_folder_not_a_directory. */
export async function checkOutDir(dir: string): Promise<void> {
  const info = await stat(resolve(dir)).catch(() => undefined);
  if (!info || info.isDirectory()) return;
  const code = "output_folder_not_a_directory";
  throw new A2VError(code, `--out ${dir} exists and is not a folder`, {
    status: 422,
    details: [{ code, message: "the output folder is an existing file", file: dir }],
  });
}

/** The temp folder Node uses (TMPDIR, else /tmp) must exist: tmpdir_missing (status 500, an environment problem). */
export async function checkTmpdir(): Promise<void> {
  const dir = tmpdir();
  const info = await stat(dir).catch(() => undefined);
  if (info?.isDirectory()) return;
  const code = info ? "tmpdir_not_a_directory" : "tmpdir_missing";
  const rule = info ? "is not a folder" : "does not exist";
  throw new A2VError(code, `the temp folder ${dir} (TMPDIR) ${rule}: set TMPDIR to an existing, writable folder`, {
    status: 500,
    details: [{ code, message: `TMPDIR ${rule}`, file: dir }],
  });
}
