import { EventEmitter } from "node:events";
import { readFile } from "node:fs/promises";
import { parseArgs } from "node:util";
import { installSignalCleanup } from "@a2v/dataset";
import { A2VError, isA2VError } from "@a2v/errors";
import type { WeightMode } from "@a2v/ltx-model";
import cliProgress from "cli-progress";
import { failedBill } from "./billing.js";
import { type CliOut, usageError } from "./cli-io.js";
import { TRAIN_STAGES, type TrainEvent, type TrainStage } from "./train/events.js";
import { type TrainOptions, type TrainResult, train } from "./train/train.js";

export const TRAIN_USAGE =
  "a2v train <input.json> --out DIR [--model tiny | --checkpoint FILE --text-encoder DIR] [--seed N]\n" +
  "      [--weights bf16|fp8|int8] [--checkpoint-every N] [--validation-every N] [--resume] [--cache-dir DIR]\n" +
  "      [--allow-private-network] [--json]";

/** Exit codes of a run stopped by a signal: 128 + the signal number. */
const SIGNAL_EXIT = { SIGINT: 130, SIGTERM: 143 } as const;

function integer(flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (!/^-?\d+$/.test(value))
    throw new A2VError("usage", `--${flag} must be an integer, got "${value}"`, { status: 400 });
  return Number(value);
}

async function readInput(file: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (cause) {
    throw new A2VError("input_unreadable", `${file}: ${(cause as Error).message}`, { status: 422, cause });
  }
  try {
    // A byte-order mark from Windows editors is not part of the JSON.
    return JSON.parse(text.replace(/^\uFEFF/, ""));
  } catch (cause) {
    throw new A2VError("invalid_input", `${file}: not valid JSON (${(cause as Error).message})`, {
      status: 422,
      cause,
    });
  }
}

/** Progress for people: a bar per stage on a terminal (cli-progress), one line per event otherwise. */
class ProgressView {
  private readonly bars?: cliProgress.MultiBar;
  private readonly stageBars = new Map<TrainStage, cliProgress.SingleBar>();
  private lastLineAt = 0;

  constructor(
    private readonly out: CliOut,
    tty: boolean,
  ) {
    if (tty) {
      this.bars = new cliProgress.MultiBar(
        {
          format: "{stage} |{bar}| {value}/{total} {unit} {detail}",
          hideCursor: true,
          clearOnComplete: false,
          stopOnComplete: false,
          etaBuffer: 20,
          stream: process.stderr,
        },
        cliProgress.Presets.shades_classic,
      );
    }
  }

  private bar(stage: TrainStage, total: number, unit: string): cliProgress.SingleBar | undefined {
    if (!this.bars) return undefined;
    let bar = this.stageBars.get(stage);
    if (!bar) {
      bar = this.bars.create(Math.max(1, total), 0, { stage: stage.padEnd(10), unit, detail: "" });
      this.stageBars.set(stage, bar);
    }
    return bar;
  }

  event(e: TrainEvent): void {
    switch (e.type) {
      case "stage":
        if (e.status === "done") {
          const bar = this.stageBars.get(e.stage);
          if (bar) bar.update(bar.getTotal(), { detail: `done in ${e.seconds.toFixed(1)} s` });
          else this.line(`${e.stage}: done in ${e.seconds.toFixed(1)} s`);
        } else if (!this.bars) this.line(`${e.stage}: started`);
        return;
      case "progress": {
        const bar = this.bar(e.stage, e.total ?? 0, e.unit);
        if (bar) {
          if (e.total !== undefined) bar.setTotal(Math.max(1, e.total));
          bar.update(e.done, { unit: e.unit, detail: e.detail ?? "" });
        } else if (performance.now() - this.lastLineAt > 1000 || e.done === e.total) {
          this.line(`${e.stage}: ${e.done}${e.total === undefined ? "" : `/${e.total}`} ${e.unit} ${e.detail ?? ""}`);
        }
        return;
      }
      case "step": {
        const eta = `ETA ${formatSeconds(e.etaSeconds)}`;
        const detail = `loss ${e.loss.toFixed(4)}  ${(e.seconds * 1000).toFixed(0)} ms/step  ${eta}`;
        const bar = this.bar("train", e.steps, "steps");
        if (bar) bar.update(e.step, { unit: "steps", detail });
        else if (e.step === 1 || e.step === e.steps || performance.now() - this.lastLineAt > 2000) {
          this.line(`train: step ${e.step}/${e.steps} ${detail}`);
        }
        return;
      }
      case "preview":
        this.line(`preview: step ${e.step} #${e.index + 1} (${e.seconds.toFixed(1)} s) → ${e.file}`);
        return;
      case "checkpoint":
        if (!this.bars) this.line(`checkpoint: step ${e.step} → ${e.file}`);
        return;
      case "warning":
        this.line(`warning [${e.code}]: ${e.group ? `${e.group}: ` : ""}${e.message}`);
        return;
      case "log":
        this.line(e.message);
    }
  }

  private line(text: string): void {
    this.lastLineAt = performance.now();
    if (this.bars) this.bars.log(`${text}\n`);
    else this.out.stderr(text);
  }

  stop(): void {
    this.bars?.stop();
  }
}

function formatSeconds(s: number): string {
  if (!Number.isFinite(s)) return "?";
  const m = Math.floor(s / 60);
  return m > 0 ? `${m} min ${Math.round(s % 60)} s` : `${Math.round(s)} s`;
}

function formatResult(r: TrainResult): string {
  const m = r.metrics;
  const stages = TRAIN_STAGES.filter((s) => m.stageSeconds[s] !== undefined)
    .map((s) => `${s} ${m.stageSeconds[s]!.toFixed(1)} s`)
    .join(", ");
  return [
    `lora_file      ${r.lora_file}`,
    `config_file    ${r.config_file}`,
    ...(r.video ? [`video          ${r.video}`] : []),
    ...(r.debug_dataset ? [`debug_dataset  ${r.debug_dataset}`] : []),
    `loss           ${m.loss[0]?.toFixed(4)} → ${m.loss[m.loss.length - 1]?.toFixed(4)} (${m.loss.length} steps, ${(m.stepSeconds * 1000).toFixed(0)} ms/step)`,
    `evaluation     ${m.evaluation.before.toFixed(4)} (base model) → ${m.evaluation.after.toFixed(4)} (with the LoRA)`,
    `samples        ${m.samples} (${m.cachedSamples} from the latent cache)`,
    `peak GPU       ${(m.peakGpuBytes / 2 ** 20).toFixed(1)} MiB`,
    `time           ${stages}`,
    `billing        ${r.billing.units} units, $${r.billing.usd.toFixed(2)}`,
  ].join("\n");
}

/**
 * `a2v train`: the whole job (fetch, validate, preprocess, encode, train, outputs). Ctrl-C or SIGTERM stops at the
 * next step boundary with a checkpoint (`--resume` continues) and exits 130 / 143.
 */
export async function trainCommand(args: string[], out: CliOut): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      out: { type: "string" },
      model: { type: "string" },
      checkpoint: { type: "string" },
      "text-encoder": { type: "string" },
      seed: { type: "string" },
      weights: { type: "string" },
      "checkpoint-every": { type: "string" },
      "validation-every": { type: "string" },
      resume: { type: "boolean" },
      "cache-dir": { type: "string" },
      "allow-private-network": { type: "boolean" },
      json: { type: "boolean" },
    },
  });
  const file = positionals[0];
  if (!file || !values.out)
    throw new A2VError("usage", `train needs an input file and --out: ${TRAIN_USAGE}`, { status: 400 });
  if (values.model !== undefined && values.model !== "tiny") {
    throw new A2VError(
      "usage",
      `--model is "tiny" or absent (use --checkpoint and --text-encoder for the official files)`,
      {
        status: 400,
      },
    );
  }
  if (Boolean(values.checkpoint) !== Boolean(values["text-encoder"]) || (values.checkpoint && values.model)) {
    throw new A2VError("usage", "give --checkpoint and --text-encoder together, or --model tiny", { status: 400 });
  }
  const input = await readInput(file);
  const controller = new AbortController();
  let stoppedBy: keyof typeof SIGNAL_EXIT | undefined;
  let training = false;
  // Before training there is nothing to save: end ffmpeg children, remove the run's temp folder, exit at once.
  const immediate = new EventEmitter();
  const removeImmediate = installSignalCleanup(() => [], {
    target: immediate,
    onSignal: (signal, { killed, removed }) =>
      out.stderr(
        `a2v: ${signal}: stopped ${killed.length} child process(es), removed ${removed.length} temp folder(s)`,
      ),
  });
  const onSignal = (signal: keyof typeof SIGNAL_EXIT) => () => {
    if (!training) {
      immediate.emit(signal, signal);
      return;
    }
    stoppedBy ??= signal;
    out.stderr(`a2v: ${signal}: stopping at the next step boundary (a second ${signal} exits at once)`);
    if (controller.signal.aborted) process.exit(SIGNAL_EXIT[signal]);
    controller.abort();
  };
  const handlers = { SIGINT: onSignal("SIGINT"), SIGTERM: onSignal("SIGTERM") };
  for (const [signal, handler] of Object.entries(handlers)) process.on(signal, handler);
  const view = values.json ? undefined : new ProgressView(out, process.stderr.isTTY === true);
  const options: TrainOptions = {
    outDir: values.out,
    model: values.checkpoint ? { checkpoint: values.checkpoint, textEncoder: values["text-encoder"]! } : "tiny",
    seed: integer("seed", values.seed),
    weights: weightMode(values.weights),
    checkpointEvery: integer("checkpoint-every", values["checkpoint-every"]),
    validationEvery: integer("validation-every", values["validation-every"]),
    resume: values.resume,
    cacheDir: values["cache-dir"],
    allowPrivateNetwork: values["allow-private-network"],
    signal: controller.signal,
    onEvent: (e) => {
      if (e.type === "stage" && e.stage === "train") training = e.status === "start";
      view?.event(e);
    },
  };
  try {
    const result = await train(input, options);
    view?.stop();
    out.stdout(values.json ? JSON.stringify(result, null, 2) : formatResult(result));
    return 0;
  } catch (error) {
    view?.stop();
    if (stoppedBy && isA2VError(error) && error.code === "aborted") {
      if (values.json) out.stdout(JSON.stringify({ ...error.toJSON(), billing: failedBill }, null, 2));
      else out.stderr(`a2v: ${error.message}`);
      return SIGNAL_EXIT[stoppedBy];
    }
    if (values.json && isA2VError(error)) {
      // The shared handler prints the error; the run's bill (0: it did not complete) belongs beside it.
      out.stdout(JSON.stringify({ ...error.toJSON(), billing: failedBill }, null, 2));
      return error.code === "usage" ? 2 : error.status === 422 ? 3 : 1;
    }
    throw error;
  } finally {
    for (const [signal, handler] of Object.entries(handlers)) process.off(signal, handler);
    removeImmediate();
  }
}

function weightMode(value: string | undefined): WeightMode | undefined {
  if (value === undefined) return undefined;
  if (value === "f32" || value === "bf16" || value === "fp8" || value === "int8") return value;
  throw usageError(`--weights must be bf16, fp8 or int8 (f32 for the tiny model), not ${value}`);
}
