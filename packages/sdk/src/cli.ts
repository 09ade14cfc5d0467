import { readFile } from "node:fs/promises";
import { parseArgs } from "node:util";
import { A2VError, EXIT, fromSystemError, isA2VError } from "@a2v/errors";
import { billing } from "./billing.js";
import { AUDIO_FIT_USAGE, audioCommand } from "./cli-audio.js";
import { DESCRIBE_USAGE, describeCommand } from "./cli-describe.js";
import { type CliOut, type CliProgram, runProgram, usageError } from "./cli-io.js";
import { PARITY_USAGE, parityCommand } from "./cli-parity.js";
import { PREPROCESS_USAGE, preprocessCommand } from "./cli-preprocess.js";
import { SAMPLE_USAGE, sampleCommand } from "./cli-sample.js";
import { TRAIN_USAGE, trainCommand } from "./cli-train.js";
import { VALIDATE_USAGE, validateCommand } from "./cli-validate.js";
import { doctor, formatDoctor } from "./doctor.js";
import { parseInputJson, parseTrainInput, trainInputJsonSchema } from "./input.js";

/** Exit codes: 0 success, 1 failure, 2 usage error, 3 input or data rejected (HTTP 422). */
export { EXIT };

/** The `a2v` program: every command, its usage and summary; run by `runProgram` (help, --json errors, exit codes). */
export const A2V: CliProgram = {
  name: "a2v",
  title: "a2v — LTX-2.3 audio-to-video LoRA trainer",
  commands: {
    doctor: {
      usage: "a2v doctor [--json]",
      summary: "adapter, ffmpeg, Node and package versions; what is missing",
      async run(args, out) {
        const { values } = parseArgs({ args, options: { json: { type: "boolean" } } });
        const report = await doctor();
        out.stdout(values.json ? JSON.stringify(report, null, 2) : formatDoctor(report));
        return report.ok ? EXIT.ok : EXIT.failure;
      },
    },
    schema: {
      usage: "a2v schema",
      summary: "the training input JSON Schema",
      async run(args, out) {
        parseArgs({ args, options: {} });
        out.stdout(JSON.stringify(trainInputJsonSchema(), null, 2));
        return EXIT.ok;
      },
    },
    cost: {
      usage: "a2v cost --steps N [--json]",
      summary: "billable units and price of a run",
      async run(args, out) {
        const { values } = parseArgs({ args, options: { steps: { type: "string" }, json: { type: "boolean" } } });
        const input = parseTrainInput({ training_data_url: "-", number_of_steps: Number(values.steps ?? 2000) });
        const bill = billing(input);
        out.stdout(values.json ? JSON.stringify(bill) : `${bill.units} units, $${bill.usd.toFixed(2)}`);
        return EXIT.ok;
      },
    },
    input: {
      usage: "a2v input <file.json> [--json]",
      summary: "validate a training request: defaults applied, frames snapped",
      async run(args, out) {
        const { values, positionals } = parseArgs({
          args,
          allowPositionals: true,
          options: { json: { type: "boolean" } },
        });
        const file = positionals[0];
        if (!file) throw usageError("a2v input needs a JSON file");
        let raw: unknown;
        try {
          // A UTF-8 byte-order mark (Windows editors) is accepted.
          raw = parseInputJson(await readFile(file, "utf8"), file);
        } catch (cause) {
          if (isA2VError(cause)) throw cause;
          throw (
            fromSystemError(cause, { what: "input file", file }) ??
            new A2VError("invalid_input", `${file}: not readable JSON (${(cause as Error).message})`, {
              status: 422,
              cause,
            })
          );
        }
        const input = parseTrainInput(raw);
        out.stdout(JSON.stringify(input, null, values.json ? undefined : 2));
        return EXIT.ok;
      },
    },
    train: {
      usage: TRAIN_USAGE,
      summary: "train a LoRA end to end (fetch, preprocess, encode, train, outputs)",
      run: trainCommand,
    },
    validate: {
      usage: VALIDATE_USAGE,
      summary: "check a dataset archive (local path, file:// or http(s) URL) like the service",
      run: validateCommand,
    },
    preprocess: {
      usage: PREPROCESS_USAGE,
      summary: "turn a dataset into training samples (cached), optionally with debug_dataset.zip",
      run: preprocessCommand,
    },
    sample: {
      usage: SAMPLE_USAGE,
      summary: "one preview with a trained LoRA: start image + audio + prompt -> mp4",
      run: sampleCommand,
    },
    describe: {
      usage: DESCRIBE_USAGE,
      summary: "parameter counts and training-step GPU memory of a model preset",
      run: describeCommand,
    },
    parity: {
      usage: PARITY_USAGE,
      summary: "check golden sets (transformer, VAEs, text path, schedules) against this implementation",
      run: parityCommand,
    },
    audio: {
      usage: AUDIO_FIT_USAGE,
      summary: "fit an audio file to a duration, pitch preserved, peak-normalised",
      run: audioCommand,
    },
  },
};

/** Runs one CLI invocation; returns the exit code (never calls process.exit, so it is testable). */
export function runCli(argv: string[], out: CliOut): Promise<number> {
  return runProgram(A2V, argv, out);
}
