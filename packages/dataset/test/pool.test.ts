import { expect, test } from "vitest";
import { settleWithLimit } from "../src/pool.js";

test("settleWithLimit keeps order, respects the limit and settles every item", async () => {
  let running = 0;
  let most = 0;
  const results = await settleWithLimit([5, 1, 4, 2, 3, 0], 2, async (n, i) => {
    running++;
    most = Math.max(most, running);
    await new Promise((resolve) => setTimeout(resolve, n * 3));
    running--;
    if (n === 4) throw new Error(`item ${i} failed`);
    return n * 10;
  });
  expect(most).toBe(2);
  expect(results.map((r) => (r.status === "fulfilled" ? r.value : (r.reason as Error).message))).toEqual([
    50,
    10,
    "item 2 failed",
    20,
    30,
    0,
  ]);
  expect(await settleWithLimit([], 4, async () => 1)).toEqual([]);
});
