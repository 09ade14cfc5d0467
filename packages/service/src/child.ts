/**
 * The training child process a worker forks per job attempt: runs train() and reports over IPC, so that a busy GPU
 * step never blocks the worker's queue-lock renewal. Stops at the next step boundary (after a checkpoint) on an
 * `abort` message, SIGTERM or SIGINT; exits at once when the worker is gone (IPC closed).
 */
import { type TrainEvent, train } from "@a2v/sdk";
import { toWireError } from "./shared.js";

export interface ChildArgs {
  input: Record<string, unknown>;
  outDir: string;
  resume: boolean;
  seed: number;
  checkpointEvery: number;
  cacheDir?: string;
  allowPrivateNetwork: boolean;
  model: "tiny" | { checkpoint: string; textEncoder: string };
}

export type ChildMessage =
  | { type: "event"; event: TrainEvent }
  | {
      type: "done";
      result: { files: Record<string, string | undefined>; billing: { units: number; usd: number }; metrics: unknown };
    }
  | { type: "error"; error: ReturnType<typeof toWireError> };

const send = (m: ChildMessage) =>
  new Promise<void>((resolve) => {
    if (!process.send || !process.connected) return resolve();
    process.send(m, () => resolve());
  });

async function main(): Promise<void> {
  const args = JSON.parse(process.env.A2V_CHILD_ARGS ?? "{}") as ChildArgs;
  const controller = new AbortController();
  const stop = () => controller.abort();
  process.on("message", (m: { type?: string }) => {
    if (m?.type === "abort") stop();
  });
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
  // The worker died (SIGKILL, machine lost): stop now, the job is retried elsewhere from the last checkpoint.
  process.on("disconnect", () => process.exit(70));
  try {
    const job = train(args.input, {
      outDir: args.outDir,
      model: args.model,
      seed: args.seed,
      resume: args.resume,
      checkpointEvery: args.checkpointEvery,
      cacheDir: args.cacheDir,
      allowPrivateNetwork: args.allowPrivateNetwork,
      signal: controller.signal,
      onEvent: (event) => void send({ type: "event", event }),
    });
    const r = await job;
    await send({
      type: "done",
      result: {
        files: { lora_file: r.lora_file, config_file: r.config_file, video: r.video, debug_dataset: r.debug_dataset },
        billing: r.billing,
        metrics: {
          finalLoss: r.metrics.loss.at(-1),
          evaluation: r.metrics.evaluation,
          stageSeconds: r.metrics.stageSeconds,
        },
      },
    });
    process.exit(0);
  } catch (e) {
    await send({ type: "error", error: toWireError(e) });
    process.exit(1);
  }
}

void main();
