/** The stages of a training job, in order. */
export const TRAIN_STAGES = ["fetch", "preprocess", "encode", "train", "validate", "outputs"] as const;
export type TrainStage = (typeof TRAIN_STAGES)[number];

/** What a running job reports: to `onEvent` and to whoever iterates the job. */
export type TrainEvent =
  | { type: "stage"; stage: TrainStage; status: "start" }
  | { type: "stage"; stage: TrainStage; status: "done"; seconds: number }
  /** Work inside a stage: bytes downloaded, groups probed or preprocessed, samples encoded. */
  | { type: "progress"; stage: TrainStage; done: number; total?: number; unit: string; detail?: string }
  | {
      type: "step";
      step: number;
      steps: number;
      loss: number;
      lr: number;
      /** Wall time of this step. */
      seconds: number;
      /** Remaining steps at the mean step time so far. */
      etaSeconds: number;
    }
  | { type: "checkpoint"; step: number; file: string }
  /** A validation preview (mp4 with its conditioning audio), as soon as it is written. */
  | { type: "preview"; step: number; index: number; prompt: string; file: string; seconds: number }
  | { type: "warning"; code: string; message: string; group?: string }
  | { type: "log"; message: string };

/**
 * Events in order for one consumer of `for await`: buffered until read, ended when the job settles (a failed job
 * ends the iteration with its error).
 */
export class EventChannel implements AsyncIterable<TrainEvent> {
  private readonly buffer: TrainEvent[] = [];
  private waiting?: () => void;
  private closed = false;
  private failure: unknown;

  push(event: TrainEvent): void {
    this.buffer.push(event);
    this.wake();
  }

  close(error?: unknown): void {
    this.closed = true;
    this.failure = error;
    this.wake();
  }

  private wake(): void {
    const waiting = this.waiting;
    this.waiting = undefined;
    waiting?.();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<TrainEvent> {
    for (;;) {
      const next = this.buffer.shift();
      if (next) {
        yield next;
        continue;
      }
      if (this.closed) {
        if (this.failure !== undefined) throw this.failure;
        return;
      }
      await new Promise<void>((resolve) => {
        this.waiting = resolve;
      });
    }
  }
}
