#!/usr/bin/env node
import { runCli } from "./cli.js";

// On a terminal progress redraws one line; piped, it is one line per update.
const progress = process.stderr.isTTY
  ? (s: string) => process.stderr.write(`\r\x1b[2K${s}`)
  : (s: string) => process.stderr.write(`${s}\n`);
let progressShown = false;

process.exitCode = await runCli(process.argv.slice(2), {
  stdout: (s) => {
    if (progressShown) process.stderr.write("\n");
    progressShown = false;
    process.stdout.write(`${s}\n`);
  },
  stderr: (s) => process.stderr.write(`${s}\n`),
  progress: (s) => {
    progressShown = process.stderr.isTTY;
    progress(s);
  },
});
