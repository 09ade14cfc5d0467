import { A2VError } from "@a2v/errors";
import { contiguousStrides, isContiguous, size } from "./codegen.js";
import {
  BYTES,
  bf16BitsToF32,
  bf16ToF32,
  type DType,
  f8e4m3BitsToF32,
  f8e4m3ToF32,
  f16BitsToF32,
  f16ToF32,
  f32ToBf16,
  f32ToBf16Bits,
  f32ToF8e4m3,
  f32ToF8e4m3Bits,
  f32ToF16,
  f32ToF16Bits,
  f32ToI8,
  type HostArray,
  isQuantized,
} from "./dtype.js";
import { type Runtime, rt } from "./runtime.js";

/** A reference-counted GPU allocation shared by a tensor and its views. */
export class Storage {
  private refs = 1;
  constructor(
    readonly runtime: Runtime,
    readonly buffer: GPUBuffer,
    readonly bytes: number,
  ) {}

  retain(): void {
    this.refs++;
  }

  release(): void {
    if (--this.refs === 0 && this.runtime === currentRuntimeOrUndefined()) {
      this.runtime.pool.release(this.buffer, this.runtime.currentBatch);
    }
  }
}

/**
 * The values of a tensor on the CPU device: one f64 per element (the CPU device is the reference,
 * so f32 keeps f64 precision; bf16/f16 values are rounded when stored, integers are exact).
 * Garbage-collected: views share the array, nothing to free.
 */
export class HostStorage {
  constructor(readonly data: Float64Array) {}
  retain(): void {}
  release(): void {}
}

/** Where a tensor's values live and its ops run: a WebGPU adapter, or plain TypeScript on the host. */
export type Device = "gpu" | "cpu";

let defaultDevice: Device = "gpu";

/** The device new tensors (`empty`, `tensor`, `fill`, `randn`, …) are created on. */
export function getDefaultDevice(): Device {
  return defaultDevice;
}

/** Sets the device new tensors are created on (ops follow their inputs' device). */
export function setDefaultDevice(device: Device): void {
  defaultDevice = device;
}

/** Runs `fn` with `device` as the default device. Synchronous only. */
export function onDevice<T>(device: Device, fn: () => T): T {
  const previous = defaultDevice;
  defaultDevice = device;
  try {
    return fn();
  } finally {
    defaultDevice = previous;
  }
}

function currentRuntimeOrUndefined(): Runtime | undefined {
  try {
    return rt();
  } catch {
    return undefined;
  }
}

/** Backward function of an op: input gradients (undefined where not needed) from the output gradient. */
export type GradFn = (grad: Tensor, saved: Tensor[], needs: boolean[]) => Array<Tensor | undefined>;

/** A tape entry: the op that produced a tensor, kept alive by its outputs and by its consumers. */
export class Node {
  private refs = 0;
  released = false;
  constructor(
    readonly op: string,
    /** Per input: its producing node, the leaf tensor itself when it requires grad, or undefined. */
    readonly parents: Array<Node | Tensor | undefined>,
    readonly saved: Tensor[],
    readonly backward: GradFn,
  ) {
    for (const p of parents) if (p instanceof Node) p.retain();
  }

  retain(): void {
    this.refs++;
  }

  unref(): void {
    if (--this.refs <= 0) this.release();
  }

  /** Frees saved tensors and drops the reference on the parents. */
  release(): void {
    if (this.released) return;
    this.released = true;
    for (const t of this.saved) t.dispose();
    for (const p of this.parents) if (p instanceof Node) p.unref();
  }
}

let nextId = 1;
const scopes: Array<Set<Tensor>> = [];

/**
 * An n-dimensional strided view of GPU memory. Ops are recorded, not run: results appear once
 * `toArray()` is awaited (the only call that waits for the GPU).
 */
export class Tensor {
  readonly id = nextId++;
  /** Set on leaves whose gradient `backward()` should accumulate into `grad`. */
  requiresGrad = false;
  /** Accumulated gradient of a leaf with `requiresGrad` (same shape, f32, contiguous). */
  grad: Tensor | undefined;
  node: Node | undefined;
  private disposed = false;

  constructor(
    private store: Storage | HostStorage,
    readonly dtype: DType,
    readonly shape: readonly number[],
    readonly strides: readonly number[] = contiguousStrides(shape),
    /** Offset of element [0, ...] in elements. */
    private elementOffset = 0,
  ) {
    scopes[scopes.length - 1]?.add(this);
  }

  get device(): Device {
    return this.store instanceof HostStorage ? "cpu" : "gpu";
  }

  /** The GPU allocation (kernels only; throws on a CPU tensor). */
  get storage(): Storage {
    if (this.store instanceof HostStorage) throw wrongDevice(this, "gpu");
    return this.store;
  }

  /** The host values of a CPU tensor, indexed by offset and strides (throws on a GPU tensor). */
  get host(): Float64Array {
    if (!(this.store instanceof HostStorage)) throw wrongDevice(this, "cpu");
    return this.store.data;
  }

  get offset(): number {
    return this.elementOffset;
  }

  /**
   * Moves this tensor's contents' home to `offset` elements into `storage` (the caller copies the
   * data). Used to pack parameters into one buffer for the fused optimizer.
   */
  rebind(storage: Storage, offset: number): void {
    this.assertAlive();
    if (this.store instanceof HostStorage) throw wrongDevice(this, "gpu");
    storage.retain();
    this.store.release();
    this.store = storage;
    this.elementOffset = offset;
  }

  get size(): number {
    return size(this.shape);
  }

  get rank(): number {
    return this.shape.length;
  }

  get isDisposed(): boolean {
    return this.disposed;
  }

  get isContiguous(): boolean {
    return isContiguous(this);
  }

  /** True when gradients flow through this tensor (a leaf that requires them, or an op result on the tape). */
  get needsGrad(): boolean {
    return this.requiresGrad || (this.node !== undefined && !this.node.released);
  }

  /** Marks a leaf as trainable; returns this. */
  trainable(flag = true): this {
    this.requiresGrad = flag;
    return this;
  }

  assertAlive(): void {
    if (this.disposed) throw new A2VError("tensor_disposed", `Tensor #${this.id} ${fmtShape(this.shape)} was disposed`);
  }

  /** Downloads the values (row-major) to the host: f16/bf16 decode to f32. */
  async toArray(): Promise<HostArray> {
    this.assertAlive();
    if (this.store instanceof HostStorage) return hostArray(gather(this), this.dtype);
    // A strided view reads the span of storage it covers and picks its elements out on the host.
    let [lo, hi] = [0, 0];
    for (let d = 0; d < this.rank; d++) {
      const reach = (this.shape[d]! - 1) * this.strides[d]!;
      if (reach < 0) lo += reach;
      else hi += reach;
    }
    const span = this.size === 0 ? 0 : hi - lo + 1;
    const bytes = BYTES[this.dtype];
    const raw = await this.store.runtime.read(this.store.buffer, (this.offset + lo) * bytes, span * bytes);
    const values = decode(raw, this.dtype);
    if (this.isContiguous) return values;
    const out = new (values.constructor as new (n: number) => HostArray)(this.size);
    return gatherInto(values, this.shape, this.strides, -lo, out);
  }

  /** Same as `toArray()`. */
  download(): Promise<HostArray> {
    return this.toArray();
  }

  /** The single value of a one-element tensor. */
  async item(): Promise<number> {
    if (this.size !== 1) throw new A2VError("not_scalar", `item() needs one element, got ${fmtShape(this.shape)}`);
    return (await this.toArray())[0]!;
  }

  /** Releases this handle (the memory goes back to the pool when no view or tape entry uses it). */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.store.release();
    this.node?.unref();
    this.grad?.dispose();
    this.grad = undefined;
    for (const s of scopes) s.delete(this);
  }

  /**
   * Writes `values` (row-major, one per element, converted to the dtype as `tensor()` converts them) into
   * this contiguous tensor in place; returns this. GPU: a copy recorded in the command stream, so it lands
   * after the ops recorded so far and before later ones (whole 4-byte words: bf16/f16 need an even offset
   * and size). CPU device: straight into the host values. Nothing is recorded on the tape.
   */
  write(values: ArrayLike<number>): this {
    this.assertAlive();
    if (values.length !== this.size) {
      throw new A2VError("bad_shape", `write(): ${values.length} values for ${this}`, { status: 422 });
    }
    if (!this.isContiguous) throw new A2VError("write_not_contiguous", `write(): ${this} is not contiguous`);
    if (this.store instanceof HostStorage) {
      this.store.data.set(hostValues(values, this.dtype), this.offset);
      return this;
    }
    if (this.size === 0) return this;
    const bytes = BYTES[this.dtype];
    const start = this.offset * bytes;
    const length = this.size * bytes;
    if (start % 4 !== 0 || length % 4 !== 0) {
      throw new A2VError("write_unaligned", `write(): ${this} does not cover whole 4-byte words`);
    }
    const src = tensor(values, this.shape, this.dtype, "gpu");
    this.store.runtime.copy(src.storage.buffer, 0, this.store.buffer, start, length);
    src.dispose();
    return this;
  }

  /** A new handle on the same memory with another shape/strides (a view). */
  view(shape: readonly number[], strides: readonly number[], offset: number): Tensor {
    this.assertAlive();
    this.store.retain();
    return new Tensor(this.store, this.dtype, shape, strides, offset);
  }

  toString(): string {
    return `Tensor#${this.id}(${this.dtype}${fmtShape(this.shape)})`;
  }
}

function wrongDevice(t: Tensor, wanted: Device): A2VError {
  return new A2VError("wrong_device", `${t} lives on the ${t.device} device; this needs a ${wanted} tensor`);
}

/** The values of a CPU tensor in row-major order (a copy; strides and offset applied). */
export function gather(t: Tensor): Float64Array {
  const src = t.host;
  const out = new Float64Array(t.size);
  if (t.isContiguous) {
    out.set(src.subarray(t.offset, t.offset + t.size));
    return out;
  }
  return gatherInto(src, t.shape, t.strides, t.offset, out);
}

/** Fills `out` with the elements of the strided view (shape, strides, offset) of `src`, row-major. */
function gatherInto<T extends Float64Array | HostArray>(
  src: ArrayLike<number>,
  shape: readonly number[],
  strides: readonly number[],
  offset: number,
  out: T,
): T {
  const rank = shape.length;
  const idx = new Array<number>(rank).fill(0);
  let at = offset;
  for (let e = 0; e < out.length; e++) {
    out[e] = src[at]!;
    for (let d = rank - 1; d >= 0; d--) {
      at += strides[d]!;
      if (++idx[d]! < shape[d]!) break;
      at -= strides[d]! * shape[d]!;
      idx[d] = 0;
    }
  }
  return out;
}

/** `v` as the dtype stores it on the CPU device: f32 keeps f64 precision (reference), the rest round. */
export function storeValue(dtype: DType, v: number): number {
  switch (dtype) {
    case "f32":
      return v;
    case "bf16":
      return bf16ToF32(f32ToBf16(v));
    case "f16":
      return f16ToF32(f32ToF16(v));
    case "i32":
      return Math.trunc(v) | 0;
    case "u32":
      return Math.trunc(v) >>> 0;
    case "i8":
      return f32ToI8(v);
    case "f8e4m3":
      return f8e4m3ToF32(f32ToF8e4m3(v));
  }
}

function hostArray(values: Float64Array, dtype: DType): HostArray {
  if (dtype === "i32") return Int32Array.from(values);
  if (dtype === "u32") return Uint32Array.from(values);
  return Float32Array.from(values);
}

/** A contiguous CPU tensor holding `values` (taken as they are: the caller rounds to the dtype). */
export function cpuTensor(values: Float64Array, shape: readonly number[], dtype: DType = "f32"): Tensor {
  return new Tensor(new HostStorage(values), dtype, [...shape]);
}

export function fmtShape(shape: readonly number[]): string {
  return `[${shape.join(", ")}]`;
}

function decode(raw: ArrayBuffer, dtype: DType): HostArray {
  switch (dtype) {
    case "f32":
      return new Float32Array(raw);
    case "i32":
      return new Int32Array(raw);
    case "u32":
      return new Uint32Array(raw);
    case "f16":
      return f16BitsToF32(new Uint16Array(raw));
    case "bf16":
      return bf16BitsToF32(new Uint16Array(raw));
    case "i8":
      return Float32Array.from(new Int8Array(raw));
    case "f8e4m3":
      return f8e4m3BitsToF32(new Uint8Array(raw));
  }
}

function checkShape(shape: readonly number[]): void {
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0)
      throw new A2VError("bad_shape", `Invalid shape ${fmtShape(shape)}`, { status: 422 });
  }
}

/** A new uninitialised contiguous tensor. */
export function empty(shape: readonly number[], dtype: DType = "f32", device: Device = defaultDevice): Tensor {
  checkShape(shape);
  if (device === "cpu") return cpuTensor(new Float64Array(size(shape)), shape, dtype);
  const runtime = rt();
  if (dtype === "f16" && !runtime.gpu.has("shader-f16")) {
    throw new A2VError("f16_unsupported", "f16 tensors need the adapter feature shader-f16", { status: 422 });
  }
  // Packed 1-byte codes occupy whole words (the loaders read word i >> 2).
  const bytes = isQuantized(dtype) ? Math.ceil(size(shape) / 4) * 4 : size(shape) * BYTES[dtype];
  const limit = runtime.gpu.info.limits.maxBufferSize ?? Number.POSITIVE_INFINITY;
  if (bytes > limit) {
    throw new A2VError(
      "tensor_too_large",
      `A ${dtype}${fmtShape(shape)} tensor needs ${bytes} bytes, above this adapter's maxBufferSize (${limit})`,
      { status: 422 },
    );
  }
  const storage = new Storage(runtime, runtime.pool.acquire(bytes), bytes);
  return new Tensor(storage, dtype, [...shape]);
}

/**
 * Uploads host data. Numbers are converted to the dtype (bf16/f16/f8e4m3 with round-to-nearest-even, i8 rounded
 * and clamped to [-127, 127]); a Uint16Array with dtype bf16 or f16 is taken as raw bits, a Uint8Array with i8 or
 * f8e4m3 (or an Int8Array with i8) as raw codes. Shape defaults to 1-D.
 */
export function tensor(
  data: ArrayLike<number>,
  shape: readonly number[] = [data.length],
  dtype: DType = "f32",
  device: Device = defaultDevice,
): Tensor {
  if (size(shape) !== data.length) {
    throw new A2VError("bad_shape", `tensor(): ${data.length} values do not fill shape ${fmtShape(shape)}`, {
      status: 422,
    });
  }
  if (device === "cpu") return cpuTensor(hostValues(data, dtype), shape, dtype);
  const t = empty(shape, dtype, "gpu");
  if (data.length > 0) t.storage.runtime.upload(t.storage.buffer, gpuValues(data, dtype));
  return t;
}

/** Raw 1-byte codes given for a quantized dtype (Uint8Array; Int8Array for i8), else undefined. */
function rawCodes(data: ArrayLike<number>, dtype: DType): Uint8Array | undefined {
  if (dtype === "i8" && data instanceof Int8Array) return new Uint8Array(data.buffer, data.byteOffset, data.length);
  return isQuantized(dtype) && data instanceof Uint8Array ? data : undefined;
}

/** Host data as a CPU tensor of `dtype` stores it (a Uint16Array is taken as raw bf16/f16 bits, see rawCodes). */
function hostValues(data: ArrayLike<number>, dtype: DType): Float64Array {
  if ((dtype === "bf16" || dtype === "f16") && data instanceof Uint16Array) {
    return Float64Array.from(dtype === "bf16" ? bf16BitsToF32(data) : f16BitsToF32(data));
  }
  const codes = rawCodes(data, dtype);
  if (codes) {
    return Float64Array.from(
      dtype === "i8" ? new Int8Array(codes.buffer, codes.byteOffset, codes.length) : f8e4m3BitsToF32(codes),
    );
  }
  return Float64Array.from(data, (v) => storeValue(dtype, v));
}

/** Host data as the bytes a GPU tensor of `dtype` stores (a Uint16Array is taken as raw bf16/f16 bits). */
function gpuValues(data: ArrayLike<number>, dtype: DType): ArrayBufferView {
  if ((dtype === "bf16" || dtype === "f16") && data instanceof Uint16Array) return data;
  if (dtype === "bf16") return f32ToBf16Bits(data);
  if (dtype === "f16") return f32ToF16Bits(data);
  if (isQuantized(dtype)) {
    const codes = rawCodes(data, dtype);
    if (codes) return codes;
    return dtype === "i8" ? Int8Array.from(data, f32ToI8) : f32ToF8e4m3Bits(data);
  }
  if (dtype === "i32") return data instanceof Int32Array ? data : Int32Array.from(data);
  if (dtype === "u32") return data instanceof Uint32Array ? data : Uint32Array.from(data);
  return data instanceof Float32Array ? data : Float32Array.from(data);
}

/** Alias of `tensor()`. */
export const fromArray = tensor;

/**
 * Runs `fn` and disposes every tensor created inside it except those in its result (a tensor, or
 * arrays/objects of them), which move to the enclosing scope. Synchronous only.
 */
export function scope<T>(fn: () => T): T {
  const tracked = new Set<Tensor>();
  scopes.push(tracked);
  let result: T;
  try {
    result = fn();
  } catch (error) {
    scopes.pop();
    for (const t of tracked) t.dispose();
    throw error;
  }
  scopes.pop();
  if (result instanceof Promise) {
    throw new A2VError("scope_async", "scope() takes a synchronous function; await outside of it");
  }
  const kept = new Set<Tensor>();
  collect(result, kept);
  const parent = scopes[scopes.length - 1];
  for (const t of tracked) {
    if (kept.has(t)) parent?.add(t);
    else t.dispose();
  }
  return result;
}

/** Removes tensors from every open scope so they outlive it. Returns its argument. */
export function keep<T>(value: T): T {
  const found = new Set<Tensor>();
  collect(value, found);
  for (const t of found) for (const s of scopes) s.delete(t);
  return value;
}

function collect(value: unknown, into: Set<Tensor>): void {
  if (value instanceof Tensor) into.add(value);
  else if (Array.isArray(value)) for (const v of value) collect(v, into);
  else if (value && typeof value === "object" && Object.getPrototypeOf(value) === Object.prototype) {
    for (const v of Object.values(value)) collect(v, into);
  }
}

/** A contiguous copy of `t` on `device` (same dtype; a GPU → CPU copy waits for the GPU). */
export async function toDevice(t: Tensor, device: Device): Promise<Tensor> {
  const values = t.device === "cpu" ? gather(t) : await t.toArray();
  return tensor(values, t.shape, t.dtype, device);
}

/** The one device of `tensors` (ops run where their inputs live); mixing devices is an error. */
export function deviceOf(tensors: readonly Tensor[]): Device {
  const first = tensors[0]?.device ?? defaultDevice;
  for (const t of tensors) {
    if (t.device !== first) {
      throw new A2VError(
        "device_mismatch",
        `${tensors[0]} is on the ${first} device and ${t} on the ${t.device} device; move one with toDevice()`,
      );
    }
  }
  return first;
}
