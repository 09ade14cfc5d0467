import { A2VError } from "@a2v/errors";
import { enableGrad, isGradEnabled, noGrad, track } from "./autograd.js";
import { add, contiguous, fill } from "./ops/elementwise.js";
import { keep, Node, scope, type Tensor } from "./tensor.js";

// The backward pass over the tape `autograd.ts` records, and gradient checkpointing on top of it.

export interface BackwardOptions {
  /** Keep the tape (saved tensors) so backward can run again through it. */
  retainGraph?: boolean;
}

function topoOrder(root: Node): Node[] {
  const order: Node[] = [];
  const seen = new Set<Node>([root]);
  const stack: Array<[Node, number]> = [[root, 0]];
  while (stack.length) {
    const top = stack[stack.length - 1]!;
    const [node, i] = top;
    if (i < node.parents.length) {
      top[1]++;
      const p = node.parents[i];
      if (p instanceof Node && !seen.has(p)) {
        seen.add(p);
        stack.push([p, 0]);
      }
    } else {
      stack.pop();
      order.push(node);
    }
  }
  return order;
}

function accumulateLeaf(leaf: Tensor, grad: Tensor): void {
  if (leaf.isDisposed) {
    grad.dispose();
    return;
  }
  const g = grad.isContiguous && grad.dtype === "f32" ? grad : contiguous(grad, "f32");
  if (g !== grad) grad.dispose();
  if (leaf.grad) {
    const sum = add(leaf.grad, g);
    leaf.grad.dispose();
    g.dispose();
    leaf.grad = keep(sum);
  } else leaf.grad = keep(g);
}

/**
 * Reverse-mode pass from `root` (default seed: ones). Gradients accumulate into `grad` of every
 * leaf with `requiresGrad` reached (call again to accumulate more; dispose `grad` to reset).
 * The tape is freed afterwards unless `retainGraph`.
 */
export function backward(root: Tensor, seed?: Tensor, options: BackwardOptions = {}): void {
  root.assertAlive();
  const rootNode = root.node;
  if (!rootNode || rootNode.released) {
    if (rootNode?.released) {
      throw new A2VError("graph_freed", "backward(): the tape of this tensor was already freed (use retainGraph)");
    }
    if (root.requiresGrad)
      noGrad(() =>
        scope(() => accumulateLeaf(root, seed ? contiguous(seed) : fill(root.shape, 1, "f32", root.device))),
      );
    return;
  }
  const order = topoOrder(rootNode);
  noGrad(() =>
    scope(() => {
      const grads = new Map<Node, Tensor>();
      grads.set(
        rootNode,
        seed ? seed.view(seed.shape, seed.strides, seed.offset) : fill(root.shape, 1, "f32", root.device),
      );
      for (let k = order.length - 1; k >= 0; k--) {
        const node = order[k]!;
        const g = grads.get(node);
        if (!g) continue;
        grads.delete(node);
        if (node.released) throw new A2VError("graph_freed", `backward(): tape entry ${node.op} was already freed`);
        const needs = node.parents.map((p) => p !== undefined);
        // Each rule in its own scope: its temporaries are freed now, not when the whole pass ends.
        const inputGrads = scope(() => node.backward(g, node.saved, needs));
        g.dispose();
        node.parents.forEach((p, i) => {
          const gi = inputGrads[i];
          if (!gi) return;
          if (!p) gi.dispose();
          else if (p instanceof Node) {
            const prev = grads.get(p);
            if (prev) {
              grads.set(p, add(prev, gi));
              prev.dispose();
              gi.dispose();
            } else grads.set(p, gi);
          } else accumulateLeaf(p, gi);
        });
      }
    }),
  );
  if (!options.retainGraph) for (const node of order) node.release();
}

/**
 * Gradient checkpointing: runs `fn(...inputs)` without a tape and saves only `inputs`; backward
 * recomputes `fn` with the tape on and back-propagates through it (into the inputs and into any
 * trainable tensors `fn` closes over, e.g. LoRA weights).
 */
export function checkpoint(fn: (...inputs: Tensor[]) => Tensor, ...inputs: Tensor[]): Tensor {
  const out = noGrad(() => fn(...inputs));
  if (!isGradEnabled()) return out;
  return track(
    "checkpoint",
    out,
    inputs,
    inputs,
    (g, saved, needs) => {
      const xs = saved.map((s, i) => {
        const x = s.view(s.shape, s.strides, s.offset);
        x.requiresGrad = needs[i]!;
        return x;
      });
      const y = enableGrad(() => fn(...xs));
      backward(y, g);
      y.dispose();
      return xs.map((x) => {
        const gx = x.grad;
        x.grad = undefined;
        x.dispose();
        return gx;
      });
    },
    true,
  );
}
