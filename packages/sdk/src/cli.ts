import { readFile } from "node:fs/promises";
import { parseArgs } from "node:util";
import { AUDIO_FIT_USAGE, audioCli } from "@a2v/audio";
import { A2VError, reportError } from "@a2v/errors";
import { billing } from "./billing.js";
import { DESCRIBE_USAGE, describeCommand } from "./cli-describe.js";
import type { CliOut } from "./cli-io.js";
import { PARITY_USAGE, parityCommand } from "./cli-parity.js";
import { PREPROCESS_USAGE, preprocessCommand } from "./cli-preprocess.js";
import { SAMPLE_USAGE, sampleCommand } from "./cli-sample.js";
import { TRAIN_USAGE, trainCommand } from "./cli-train.js";
import { VALIDATE_USAGE, validateCommand } from "./cli-validate.js";
import { doctor, formatDoctor } from "./doctor.js";
import { parseInputJson, parseTrainInput, trainInputJsonSchema } from "./input.js";

/** Exit codes: 0 success, 1 failure, 2 usage error, 3 input or data rejected (HTTP 422). */
export const EXIT = { ok: 0, failure: 1, usage: 2, rejected: 3 } as const;

const USAGE = `a2v — LTX-2.3 audio-to-video LoRA trainer

Usage:
  a2v doctor [--json]              adapter, ffmpeg, Node and package versions; what is missing
  a2v schema                       the training input JSON Schema
  a2v cost --steps N               billable units and price of a run
  a2v input <file.json> [--json]   validate a training request: defaults applied, frames snapped
  ${TRAIN_USAGE}
                                   train a LoRA end to end (fetch, preprocess, encode, train, outputs)
  ${VALIDATE_USAGE}
                                   check a dataset archive (local path, file:// or http(s) URL) like the service
  ${PREPROCESS_USAGE}
                                   turn a dataset into training samples (cached), optionally with debug_dataset.zip
  ${DESCRIBE_USAGE}
                                   parameter counts and training-step GPU memory of a model preset
  ${PARITY_USAGE}
                                   check golden sets (transformer, VAEs, text path, schedules) against this implementation
  a2v audio fit <in> <out> --duration S [--no-preserve-pitch] [--no-normalize] [--json]
                                   fit an audio file to a duration, pitch preserved, peak-normalised
  a2v help [<command>]             this text, or one command's usage (also: a2v <command> --help)
`;

const DOCTOR_USAGE = "a2v doctor [--json]";
const SCHEMA_USAGE = "a2v schema";
const COST_USAGE = "a2v cost --steps N [--json]";
const INPUT_USAGE = "a2v input <file.json> [--json]";

/** Each command's own usage, for `a2v help <command>` and `a2v <command> --help` (the summary otherwise). */
const USAGES: Record<string, string> = {
  doctor: DOCTOR_USAGE,
  schema: SCHEMA_USAGE,
  cost: COST_USAGE,
  input: INPUT_USAGE,
  train: TRAIN_USAGE,
  validate: VALIDATE_USAGE,
  preprocess: PREPROCESS_USAGE,
  sample: SAMPLE_USAGE,
  parity: PARITY_USAGE,
  describe: DESCRIBE_USAGE,
  audio: AUDIO_FIT_USAGE,
  help: "a2v help [<command>]",
};

function usageOf(name: string): string {
  const usage = USAGES[name];
  return usage ? `usage: ${usage}` : USAGE;
}

const wantsHelp = (args: string[]) => args.includes("--help") || args.includes("-h");

type Out = CliOut;

const commands: Record<string, (args: string[], out: Out) => Promise<number>> = {
  async doctor(args, out) {
    const { values } = parseArgs({ args, options: { json: { type: "boolean" } } });
    const report = await doctor();
    out.stdout(values.json ? JSON.stringify(report, null, 2) : formatDoctor(report));
    return report.ok ? EXIT.ok : EXIT.failure;
  },
  async schema(args, out) {
    parseArgs({ args, options: {} });
    out.stdout(JSON.stringify(trainInputJsonSchema(), null, 2));
    return EXIT.ok;
  },
  async cost(args, out) {
    const { values } = parseArgs({ args, options: { steps: { type: "string" }, json: { type: "boolean" } } });
    const input = parseTrainInput({ training_data_url: "-", number_of_steps: Number(values.steps ?? 2000) });
    const bill = billing(input);
    out.stdout(values.json ? JSON.stringify(bill) : `${bill.units} units, $${bill.usd.toFixed(2)}`);
    return EXIT.ok;
  },
  async input(args, out) {
    const { values, positionals } = parseArgs({ args, allowPositionals: true, options: { json: { type: "boolean" } } });
    const file = positionals[0];
    if (!file) throw new A2VError("usage", "a2v input needs a JSON file", { status: 400 });
    let raw: unknown;
    try {
      // A UTF-8 byte-order mark (Windows editors) is accepted.
      raw = parseInputJson(await readFile(file, "utf8"), file);
    } catch (cause) {
      if (cause instanceof A2VError) throw cause;
      throw new A2VError("invalid_input", `${file}: not readable JSON (${(cause as Error).message})`, {
        status: 422,
        cause,
      });
    }
    const input = parseTrainInput(raw);
    out.stdout(JSON.stringify(input, null, values.json ? undefined : 2));
    return EXIT.ok;
  },
  train: trainCommand,
  validate: validateCommand,
  preprocess: preprocessCommand,
  sample: sampleCommand,
  parity: parityCommand,
  describe: describeCommand,
  audio: (args, out) => audioCli(args, out),
  async help(args, out) {
    const [topic] = args;
    if (topic !== undefined && !commands[topic]) {
      throw new A2VError("usage", `unknown command "${topic}"`, { status: 400 });
    }
    out.stdout(topic === undefined ? USAGE : usageOf(topic));
    return EXIT.ok;
  },
};

function wantsJson(args: string[]): boolean {
  return args.includes("--json");
}

/** Runs one CLI invocation; returns the exit code (never calls process.exit, so it is testable). */
export async function runCli(argv: string[], out: Out): Promise<number> {
  const [first = "help", ...args] = argv;
  const name = first === "--help" || first === "-h" ? "help" : first;
  const command = commands[name];
  if (!command) {
    out.stderr(`unknown command "${name}"\n\n${USAGE}`);
    return EXIT.usage;
  }
  if (name !== "help" && wantsHelp(args)) {
    out.stdout(usageOf(name));
    return EXIT.ok;
  }
  try {
    return await command(args, out);
  } catch (error) {
    // Every failure, expected or not, in one shape: --json prints one JSON object on stdout.
    return reportError(error, out, { json: wantsJson(args), usage: name === "help" ? USAGE : usageOf(name) });
  }
}
