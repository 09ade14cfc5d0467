import { type GradFn, keep, Node, type Tensor } from "./tensor.js";

// The tape: recording on/off and `track`, which every op calls. It knows no ops; the backward pass
// that walks the tape (and needs `add`/`fill`) is `backward.ts`.

let gradEnabled = true;

/** Runs `fn` without recording anything on the tape (inference, validation, optimizer math). */
export function noGrad<T>(fn: () => T): T {
  const previous = gradEnabled;
  gradEnabled = false;
  try {
    return fn();
  } finally {
    gradEnabled = previous;
  }
}

/** Runs `fn` with recording on (used by checkpoint recomputation inside `backward()`). */
export function enableGrad<T>(fn: () => T): T {
  const previous = gradEnabled;
  gradEnabled = true;
  try {
    return fn();
  } finally {
    gradEnabled = previous;
  }
}

export function isGradEnabled(): boolean {
  return gradEnabled;
}

function parentOf(t: Tensor): Node | Tensor | undefined {
  if (t.node && !t.node.released) return t.node;
  return t.requiresGrad ? t : undefined;
}

function retainedCopy(t: Tensor): Tensor {
  return keep(t.view(t.shape, t.strides, t.offset));
}

/**
 * Puts `out` on the tape when recording is on and some input needs a gradient (otherwise costs
 * nothing). `saved` tensors are retained until the graph is freed; `backward` receives them.
 */
export function track(
  op: string,
  out: Tensor,
  inputs: Tensor[],
  saved: Tensor[],
  backward: GradFn,
  force = false,
): Tensor {
  if (!gradEnabled) return out;
  if (!force && !inputs.some((t) => t.needsGrad)) return out;
  const node = new Node(op, inputs.map(parentOf), saved.map(retainedCopy), backward);
  node.retain();
  out.node = node;
  return out;
}
