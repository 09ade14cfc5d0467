import { A2VError, type A2VErrorDetail } from "@a2v/errors";
import { expect } from "vitest";

/** Awaits a promise that must reject with an A2VError, and returns that error. */
export async function rejection(promise: Promise<unknown>): Promise<A2VError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error, "expected the promise to reject").toBeInstanceOf(A2VError);
  return error as A2VError;
}

/** The details as compact "code group file" strings, for whole-list assertions. */
export function detailKeys(details: A2VErrorDetail[]): string[] {
  return details.map((d) => [d.code, d.group ?? "-", d.file ?? "-"].join(" ")).sort();
}
