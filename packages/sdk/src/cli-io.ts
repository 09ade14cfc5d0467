/** Where a CLI command writes: stdout for results (JSON with --json), stderr for messages and errors. */
export interface CliOut {
  stdout: (s: string) => void;
  stderr: (s: string) => void;
  /** Transient progress (a redrawn line on a terminal); falls back to stderr lines when absent. */
  progress?: (s: string) => void;
}
