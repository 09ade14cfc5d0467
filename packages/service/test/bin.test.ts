import { execFile, spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { lookupApiKey } from "../src/shared.js";
import { freePort, startRedis, type TestRedis } from "./helpers/redis.js";

const run = promisify(execFile);
const bin = fileURLToPath(new URL("../dist/bin.js", import.meta.url));
let redisServer: TestRedis;
let store = "";

beforeAll(async () => {
  redisServer = await startRedis();
  store = await mkdtemp(join(tmpdir(), "a2v-store-"));
});
afterAll(async () => {
  await redisServer?.stop();
  await rm(store, { recursive: true, force: true });
});

async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await run(process.execPath, [bin, ...args]);
    return { code: 0, ...r };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    return { code: err.code, stdout: err.stdout, stderr: err.stderr };
  }
}

describe("the a2v-service command", () => {
  it("prints its usage (--help: exit 0) and refuses a missing --redis/--store (exit 2)", async () => {
    const help = await cli(["--help"]);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/a2v-service serve\s+--redis URL --store DIR/);
    expect(help.stdout).toMatch(/a2v-service worker --redis URL --store DIR/);
    const bad = await cli(["worker", "--redis", redisServer.url]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--store are required/);
    expect(bad.stderr).toContain("usage: a2v-service worker --redis URL --store DIR");
  });

  it("follows the a2v CLI convention: per-command help, and --json errors as { status, code, message, details }", async () => {
    const help = await cli(["help", "key"]);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^usage: a2v-service key create --redis URL/);
    expect((await cli(["key", "--help"])).stdout).toBe(help.stdout);
    const unknown = await cli(["fly", "--json"]);
    expect(unknown.code).toBe(2);
    expect(JSON.parse(unknown.stdout)).toEqual({
      status: 400,
      code: "usage",
      message: 'unknown command "fly"',
      details: [],
    });
    const flag = await cli(["serve", "--colour", "--json"]);
    expect(flag.code).toBe(2);
    expect(JSON.parse(flag.stdout)).toMatchObject({ status: 400, code: "usage" });
  });

  it("creates a key (printed once, stored hashed), serves the API with it, and stops on SIGTERM", async () => {
    const created = await cli([
      "key",
      "create",
      "--redis",
      redisServer.url,
      "--prefix",
      "t-bin",
      "--name",
      "ci",
      "--max-running",
      "3",
    ]);
    expect(created.code).toBe(0);
    const { key, id, maxRunning } = JSON.parse(created.stdout);
    expect(maxRunning).toBe(3);
    const redis = new Redis(redisServer.url);
    expect((await lookupApiKey(redis, "t-bin", key))?.id).toBe(id);
    await redis.quit();

    const port = await freePort();
    const args = ["serve", "--redis", redisServer.url, "--store", store, "--prefix", "t-bin", "--port", String(port)];
    const server = spawn(process.execPath, [bin, ...args, "--host", "127.0.0.1"], {
      stdio: ["ignore", "ignore", "pipe"],
    });
    const exited = new Promise<number | null>((r) => server.once("exit", (code) => r(code)));
    await new Promise<void>((resolve, reject) => {
      let err = "";
      server.stderr!.on("data", (d) => {
        err += d;
        if (err.includes("listening on")) resolve();
      });
      server.once("exit", () => reject(new Error(err)));
    });
    const base = `http://127.0.0.1:${port}`;
    expect((await fetch(`${base}/openapi.json`)).status).toBe(200);
    const submitted = await fetch(`${base}/a2v`, {
      method: "POST",
      headers: { authorization: `Key ${key}`, "content-type": "application/json" },
      body: JSON.stringify({ training_data_url: "https://example.com/groups.zip" }),
    });
    expect(submitted.status).toBe(200);
    const { status_url } = (await submitted.json()) as { status_url: string };
    expect(status_url).toMatch(new RegExp(`^${base}/a2v/requests/[0-9a-f-]+/status$`));
    const s = (await (await fetch(status_url, { headers: { authorization: `Key ${key}` } })).json()) as {
      status: string;
    };
    expect(s.status).toBe("IN_QUEUE");
    server.kill("SIGTERM");
    expect(await exited).toBe(0);
  });
});
