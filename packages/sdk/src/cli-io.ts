import { A2VError, EXIT, reportError } from "@a2v/errors";

/** Where a CLI command writes: stdout for results (JSON with --json), stderr for messages and errors. */
export interface CliOut {
  stdout: (s: string) => void;
  stderr: (s: string) => void;
  /** Transient progress (a redrawn line on a terminal); falls back to stderr lines when absent. */
  progress?: (s: string) => void;
}

/** One command of an a2v program: its usage line(s), a one-line summary, and what it does (returns the exit code). */
export interface CliCommand {
  /** `a2v doctor [--json]`; continuation lines start with six spaces. */
  usage: string;
  /** What it does, for the program's summary (may wrap: each line is indented under the first). */
  summary: string;
  /** Runs with the arguments after the command name; throws an `A2VError` (or anything) on failure. */
  run: (args: string[], out: CliOut) => Promise<number>;
}

/** A command-line program (`a2v`, `a2v-service`): every a2v program parses, helps, prints and exits the same way. */
export interface CliProgram {
  /** The program's name as typed: `a2v`. */
  name: string;
  /** The first line of its summary: `a2v — LTX-2.3 audio-to-video LoRA trainer`. */
  title: string;
  commands: Record<string, CliCommand>;
}

const SUMMARY_COLUMN = 35;

/** The program's summary (`--help`, `help`, no command): the title, then each command's usage and what it does. */
export function programUsage(program: CliProgram): string {
  const lines = [program.title, "", "Usage:"];
  const entries = [
    ...Object.values(program.commands).map((c) => [c.usage, c.summary] as const),
    [`${program.name} help [<command>]`, "this text, or one command's usage (also: <command> --help)"] as const,
  ];
  for (const [usage, summary] of entries) {
    const [first = "", ...rest] = summary.split("\n");
    const pad = SUMMARY_COLUMN - 2 - usage.length;
    if (!usage.includes("\n") && pad >= 1) lines.push(`  ${usage}${" ".repeat(pad)}${first}`);
    else lines.push(`  ${usage}`, `${" ".repeat(SUMMARY_COLUMN)}${first}`);
    for (const more of rest) lines.push(`${" ".repeat(SUMMARY_COLUMN)}${more}`);
  }
  return `${lines.join("\n")}\n`;
}

/** A usage error (status 400, exit 2): a missing or malformed argument. */
export function usageError(message: string): A2VError {
  return new A2VError("usage", message, { status: 400 });
}

const wantsHelp = (args: string[]) => args.includes("--help") || args.includes("-h");

/**
 * Runs one invocation of an a2v program and returns its exit code (never calls process.exit, so it is testable).
 * `--help`, `-h`, `help` and no command print the summary; `help <command>` and `<command> --help` print
 * `usage: <that command's usage>`; all exit 0. Any failure goes through `reportError`: exit 2 for usage errors
 * (with the usage text), 3 for rejected input or data (422), 1 otherwise; with `--json` the error is one
 * `{ status, code, message, details }` object on stdout.
 */
export async function runProgram(program: CliProgram, argv: string[], out: CliOut): Promise<number> {
  const [first = "help", ...args] = argv;
  const name = first === "--help" || first === "-h" ? "help" : first;
  const json = argv.includes("--json");
  const summary = programUsage(program);
  if (name === "help") {
    const [topic] = args;
    if (topic === undefined) {
      out.stdout(summary);
      return EXIT.ok;
    }
    if (topic === "help") {
      out.stdout(`usage: ${program.name} help [<command>]`);
      return EXIT.ok;
    }
    const command = program.commands[topic];
    if (!command) return reportError(usageError(`unknown command "${topic}"`), out, { json, usage: summary });
    out.stdout(`usage: ${command.usage}`);
    return EXIT.ok;
  }
  const command = program.commands[name];
  if (!command) return reportError(usageError(`unknown command "${name}"`), out, { json, usage: summary });
  if (wantsHelp(args)) {
    out.stdout(`usage: ${command.usage}`);
    return EXIT.ok;
  }
  try {
    return await command.run(args, out);
  } catch (error) {
    // Every failure, expected or not, in one shape: --json prints one JSON object on stdout.
    return reportError(error, out, { json, usage: `usage: ${command.usage}` });
  }
}

/**
 * The process's streams as a `CliOut`: one line per call; on a terminal progress redraws one line on stderr,
 * piped it is one line per update.
 */
export function processOut(): CliOut {
  const tty = process.stderr.isTTY === true;
  let progressShown = false;
  return {
    stdout: (s) => {
      if (progressShown) process.stderr.write("\n");
      progressShown = false;
      process.stdout.write(`${s}\n`);
    },
    stderr: (s) => process.stderr.write(`${s}\n`),
    progress: (s) => {
      progressShown = tty;
      process.stderr.write(tty ? `\r\x1b[2K${s}` : `${s}\n`);
    },
  };
}
