import { A2VError, printable } from "@a2v/errors";
import { DatasetErrorCodes } from "./codes.js";
import type { DatasetIssue } from "./types.js";

/** How many problems the error message lists; `details` always holds all of them. */
const MESSAGE_LINES = 10;

/**
 * One 422 error for every problem found. Its code is the problems' code when they share one
 * (e.g. `missing_audio`), `invalid_dataset` otherwise.
 */
export function rejectDataset(problems: DatasetIssue[]): A2VError {
  const codes = new Set(problems.map((p) => p.code));
  const code = codes.size === 1 ? problems[0]!.code : DatasetErrorCodes.invalidDataset;
  // The message is for people (escaped names); details keep the names as they are.
  const lines = problems.slice(0, MESSAGE_LINES).map((p) => `  - [${p.code}] ${printable(p.message)}`);
  if (problems.length > MESSAGE_LINES) lines.push(`  … and ${problems.length - MESSAGE_LINES} more`);
  const count = `${problems.length} problem${problems.length === 1 ? "" : "s"}`;
  return new A2VError(code, `the dataset was rejected (${count}):\n${lines.join("\n")}`, {
    status: 422,
    details: problems.map(({ code, message, group, file }) => ({
      code,
      message,
      ...(group !== undefined ? { group } : {}),
      ...(file !== undefined ? { file } : {}),
    })),
  });
}
