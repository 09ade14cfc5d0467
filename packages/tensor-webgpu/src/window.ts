import { A2VError } from "@a2v/errors";
import { BYTES } from "./dtype.js";
import { fmtShape, type Tensor } from "./tensor.js";

/**
 * Storage bindings are limited (maxStorageBufferBindingSize: 2 GiB − 4 on NVIDIA, 128 MiB on
 * lavapipe) while buffers may be larger. A view whose elements lie beyond the limit is bound as a
 * window: the buffer range it touches, with the view's offset rebased onto the window's start.
 */
const windows = new WeakMap<Tensor, GPUBufferBinding>();

/** [first, last] element offsets a view touches (strides are non-negative). */
function extent(t: Tensor): [number, number] {
  let last = t.offset;
  for (let d = 0; d < t.rank; d++) if (t.shape[d]! > 0) last += (t.shape[d]! - 1) * t.strides[d]!;
  return [t.offset, last];
}

function tooLarge(t: Tensor, bytes: number, limit: number): A2VError {
  return new A2VError(
    "view_too_large",
    `A ${t.dtype}${fmtShape(t.shape)} view spans ${bytes} bytes, above this adapter's maxStorageBufferBindingSize ` +
      `(${limit}); process it in slices (e.g. along the token axis), each within the limit`,
    { status: 422 },
  );
}

/**
 * `t` itself when it can be bound whole, else a view rebased onto a binding window (dispose it after
 * recording the dispatch). Throws when even the window exceeds the binding limit.
 */
export function bindable(t: Tensor): Tensor {
  const rt = t.storage.runtime;
  const bytes = BYTES[t.dtype];
  const [first, last] = extent(t);
  const end = Math.ceil(((last + 1) * bytes) / 4) * 4;
  if (end <= rt.maxBinding || t.size === 0) return t;
  const align = Number(rt.device.limits.minStorageBufferOffsetAlignment ?? 256);
  const start = Math.floor((first * bytes) / align) * align;
  if (end - start > rt.maxBinding) throw tooLarge(t, end - start, rt.maxBinding);
  const view = t.view(t.shape, t.strides, t.offset - start / bytes);
  windows.set(view, { buffer: t.storage.buffer, offset: start, size: end - start });
  return view;
}

/** The binding for a tensor in a dispatch: its window, or its whole buffer when that fits. */
export function bindingOf(t: Tensor): GPUBuffer | GPUBufferBinding {
  const window = windows.get(t);
  if (window) return window;
  const [, last] = extent(t);
  const end = (last + 1) * BYTES[t.dtype];
  if (t.size > 0 && end > t.storage.runtime.maxBinding) throw tooLarge(t, end, t.storage.runtime.maxBinding);
  return t.storage.buffer;
}

/** Runs `fn` on binding-ready versions of `tensors`, disposing the temporary windows afterwards. */
export function withWindows<R>(tensors: Tensor[], fn: (ready: Tensor[]) => R): R {
  const ready = tensors.map(bindable);
  try {
    return fn(ready);
  } finally {
    ready.forEach((w, i) => {
      if (w !== tensors[i]) w.dispose();
    });
  }
}
