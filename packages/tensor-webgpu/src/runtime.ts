import { A2VError } from "@a2v/errors";
import { type Gpu, onGpuRelease, requestGpu } from "./device.js";
import { BufferPool } from "./pool.js";

interface DispatchRecord {
  kind: "dispatch";
  wgsl: string;
  pipeline: CachedPipeline;
  buffers: Array<GPUBuffer | GPUBufferBinding>;
  uniform?: ArrayBuffer;
  workgroups: [number, number, number];
}

interface CopyRecord {
  kind: "copy";
  src: GPUBuffer;
  srcOffset: number;
  dst: GPUBuffer;
  dstOffset: number;
  size: number;
}

type CommandRecord = DispatchRecord | CopyRecord;

interface CachedPipeline {
  module: GPUShaderModule;
  promise: Promise<GPUComputePipeline>;
  ready?: GPUComputePipeline;
  /** Its bind group layout, fetched once (a Dawn call per dispatch otherwise). */
  layout?: GPUBindGroupLayout;
}

/** Records to batch into one command encoder before submitting. */
const BATCH_DISPATCHES = 64;

/** `A2V_GPU_MEMORY_GIB`: the pool's budget (`BufferPool.budgetBytes`) in GiB; unset: no bound. */
function memoryBudgetFromEnv(): number {
  const raw = process.env.A2V_GPU_MEMORY_GIB;
  if (raw === undefined || raw === "") return Number.POSITIVE_INFINITY;
  const gib = Number(raw);
  if (!(gib > 0)) {
    throw new A2VError("bad_env", `A2V_GPU_MEMORY_GIB must be a positive number of GiB, got "${raw}"`, { status: 422 });
  }
  return gib * 2 ** 30;
}

/**
 * Owns the device-side state of the tensor library: the buffer pool, the pipeline cache (keyed by WGSL
 * text; compiled asynchronously) and the command stream. Ops only record; `flush()` encodes a batch into
 * one command encoder and submits it, synchronously when every pipeline it needs is compiled.
 */
export class Runtime {
  readonly pool: BufferPool;
  private readonly pipelines = new Map<string, CachedPipeline>();
  private records: CommandRecord[] = [];
  /** Number of the batch being recorded; buffers released now are parked under it. */
  private batch = 0;
  private inFlight = 0;
  private chain: Promise<void> = Promise.resolve();
  private failure: unknown;
  readonly stats = { dispatches: 0, submits: 0, pipelines: 0 };

  /** Largest byte range one storage binding may cover (rounded down to a multiple of 4). */
  readonly maxBinding: number;

  constructor(readonly gpu: Gpu) {
    this.pool = new BufferPool(gpu.device);
    this.pool.budgetBytes = memoryBudgetFromEnv();
    // Under a budget the recorded work is submitted early when only its pending frees would keep the pool within it.
    this.pool.onPressure = () => {
      if (this.inFlight === 0) void this.flush();
    };
    this.maxBinding = Math.floor((gpu.info.limits.maxStorageBufferBindingSize ?? 2 ** 27) / 4) * 4;
  }

  get device(): GPUDevice {
    return this.gpu.device;
  }

  get currentBatch(): number {
    return this.batch;
  }

  private pipeline(wgsl: string): CachedPipeline {
    let cached = this.pipelines.get(wgsl);
    if (cached) return cached;
    const module = this.device.createShaderModule({ code: wgsl });
    const promise = this.device
      .createComputePipelineAsync({ layout: "auto", compute: { module, entryPoint: "main" } })
      .catch(async (cause: unknown) => {
        const info = await module.getCompilationInfo();
        const messages = info.messages.map((m) => `${m.lineNum}:${m.linePos} ${m.message}`).join("\n");
        throw new A2VError(
          "wgsl_compile_failed",
          `WGSL pipeline failed to compile:\n${messages}\n--- source ---\n${wgsl}`,
          {
            status: 500,
            cause,
          },
        );
      });
    cached = { module, promise };
    promise.then(
      (p) => {
        // A pipeline compiled synchronously meanwhile (see flush) stays: its layout may already be in use.
        cached!.ready ??= p;
      },
      () => {},
    );
    this.pipelines.set(wgsl, cached);
    this.stats.pipelines++;
    return cached;
  }

  /** Records one compute dispatch; binding i is buffers[i], the optional uniform is the next binding. */
  dispatch(
    wgsl: string,
    buffers: Array<GPUBuffer | GPUBufferBinding>,
    workgroups: [number, number?, number?],
    uniform?: ArrayBuffer,
  ): void {
    const [x, y = 1, z = 1] = workgroups;
    if (x * y * z === 0) return;
    const rec: DispatchRecord = {
      kind: "dispatch",
      wgsl,
      pipeline: this.pipeline(wgsl),
      buffers,
      workgroups: [x, y, z],
    };
    if (uniform) rec.uniform = uniform;
    this.records.push(rec);
    this.stats.dispatches++;
    if (this.records.length >= BATCH_DISPATCHES) void this.flush();
  }

  copy(src: GPUBuffer, srcOffset: number, dst: GPUBuffer, dstOffset: number, size: number): void {
    this.records.push({ kind: "copy", src, srcOffset, dst, dstOffset, size });
  }

  upload(buffer: GPUBuffer, data: ArrayBufferView): void {
    const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    if (bytes.byteLength % 4 === 0) this.device.queue.writeBuffer(buffer, 0, bytes);
    else {
      const padded = new Uint8Array(Math.ceil(bytes.byteLength / 4) * 4);
      padded.set(bytes);
      this.device.queue.writeBuffer(buffer, 0, padded);
    }
  }

  /**
   * Submits everything recorded so far (synchronously when its pipelines are compiled). Under a memory budget
   * (`pool.budgetBytes`) pipelines still compiling are compiled synchronously instead of waited for: buffers freed
   * while work waits for a pipeline cannot be reused until it is submitted, so a cold first step would otherwise
   * hold every buffer it ever frees.
   */
  flush(): Promise<void> {
    const records = this.records;
    const batch = this.batch++;
    this.records = [];
    if (this.inFlight === 0 && Number.isFinite(this.pool.budgetBytes)) {
      for (const r of records) if (r.kind === "dispatch") r.pipeline.ready ??= this.compileNow(r.pipeline);
    }
    const ready = records.every((r) => r.kind === "copy" || r.pipeline.ready);
    if (this.inFlight === 0 && ready) {
      try {
        this.submit(records, batch);
      } catch (error) {
        this.failure ??= error;
        this.pool.submitted(batch);
      }
      return this.chain;
    }
    this.inFlight++;
    this.chain = this.chain
      .then(async () => {
        await Promise.all(records.map((r) => (r.kind === "dispatch" ? r.pipeline.promise : undefined)));
        this.submit(records, batch);
      })
      .catch((error: unknown) => {
        this.failure ??= error;
        this.pool.submitted(batch);
      })
      .finally(() => {
        this.inFlight--;
      });
    return this.chain;
  }

  private compileNow(cached: CachedPipeline): GPUComputePipeline {
    return this.device.createComputePipeline({
      layout: "auto",
      compute: { module: cached.module, entryPoint: "main" },
    });
  }

  /** Flushes and resolves once everything recorded is submitted; rethrows the first failure since the last call. */
  async sync(): Promise<void> {
    await this.flush();
    if (this.failure !== undefined) {
      const failure = this.failure;
      this.failure = undefined;
      throw failure;
    }
  }

  private submit(records: CommandRecord[], batch: number): void {
    const device = this.device;
    const encoder = device.createCommandEncoder();
    const uniforms = this.uniformArena(records);
    let pass: GPUComputePassEncoder | undefined;
    for (const rec of records) {
      if (rec.kind === "copy") {
        pass?.end();
        pass = undefined;
        encoder.copyBufferToBuffer(rec.src, rec.srcOffset, rec.dst, rec.dstOffset, rec.size);
        continue;
      }
      pass ??= encoder.beginComputePass();
      const pipeline = rec.pipeline.ready!;
      pass.setPipeline(pipeline);
      pass.setBindGroup(0, this.bindGroup(rec, uniforms?.bindings.get(rec)));
      pass.dispatchWorkgroups(...rec.workgroups);
    }
    pass?.end();
    device.queue.submit([encoder.finish()]);
    uniforms?.buffer.destroy();
    this.stats.submits++;
    this.pool.submitted(batch);
  }

  /** The bind group of a dispatch (its pipeline's layout is fetched once). */
  private bindGroup(rec: DispatchRecord, uniform: GPUBufferBinding | undefined): GPUBindGroup {
    const cached = rec.pipeline;
    cached.layout ??= cached.ready!.getBindGroupLayout(0);
    // Pool buckets can round a buffer past the binding limit; tensors never extend past it (see empty()).
    const entries: GPUBindGroupEntry[] = rec.buffers.map((b, binding) => ({
      binding,
      resource: "buffer" in b ? b : { buffer: b, size: Math.min(b.size, this.maxBinding) },
    }));
    if (uniform) entries.push({ binding: rec.buffers.length, resource: uniform });
    return this.device.createBindGroup({ layout: cached.layout, entries });
  }

  /**
   * Packs the batch's per-dispatch uniforms into one buffer (one allocation and one write per submit,
   * not per dispatch; each at the device's uniform offset alignment).
   */
  private uniformArena(
    records: CommandRecord[],
  ): { buffer: GPUBuffer; bindings: Map<DispatchRecord, GPUBufferBinding> } | undefined {
    // WebGPU's default minUniformBufferOffsetAlignment (the device is not asked for a lower one).
    const align = 256;
    const placed: Array<[DispatchRecord, number, number]> = [];
    let size = 0;
    for (const rec of records) {
      if (rec.kind !== "dispatch" || !rec.uniform) continue;
      const bytes = Math.max(16, Math.ceil(rec.uniform.byteLength / 16) * 16);
      placed.push([rec, size, bytes]);
      size = Math.ceil((size + bytes) / align) * align;
    }
    if (placed.length === 0) return undefined;
    const data = new Uint8Array(size);
    const buffer = this.device.createBuffer({ size, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
    const bindings = new Map<DispatchRecord, GPUBufferBinding>();
    for (const [rec, offset, bytes] of placed) {
      data.set(new Uint8Array(rec.uniform!), offset);
      bindings.set(rec, { buffer, offset, size: bytes });
    }
    this.device.queue.writeBuffer(buffer, 0, data);
    return { buffer, bindings };
  }

  /** Copies `size` bytes at `offset` of `buffer` to the host (waits for the GPU). */
  async read(buffer: GPUBuffer, offset: number, size: number): Promise<ArrayBuffer> {
    const start = Math.floor(offset / 4) * 4;
    const end = Math.ceil((offset + size) / 4) * 4;
    const staging = this.device.createBuffer({
      size: Math.max(4, end - start),
      usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
    });
    if (end > start) this.copy(buffer, start, staging, 0, end - start);
    await this.sync();
    await staging.mapAsync(GPUMapMode.READ);
    const data = staging.getMappedRange().slice(offset - start, offset - start + size);
    staging.unmap();
    staging.destroy();
    return data;
  }

  /** Waits until the GPU has finished all submitted work. */
  async idle(): Promise<void> {
    await this.sync();
    await this.device.queue.onSubmittedWorkDone();
  }
}

let runtime: Runtime | undefined;
let pending: Promise<Runtime> | undefined;

/**
 * Acquires the GPU (see `requestGpu`) and the tensor runtime on it, once: `setup` runs on the new runtime
 * before the promise resolves (`init()` in init.ts passes the kernel self-tests). Later calls share it.
 */
export function acquireRuntime(setup: (runtime: Runtime) => Promise<unknown>): Promise<Runtime> {
  pending ??= requestGpu().then(async (gpu) => {
    runtime = new Runtime(gpu);
    await setup(runtime);
    return runtime;
  });
  return pending;
}

onGpuRelease(() => {
  runtime = undefined;
  pending = undefined;
});

/** The runtime; throws when `await init()` has not been called. */
export function rt(): Runtime {
  if (!runtime) {
    throw new A2VError("gpu_not_initialised", "Tensor ops need a device: call `await init()` first", { status: 500 });
  }
  return runtime;
}

/** Submits recorded work; resolves when it is submitted (not finished). */
export function flush(): Promise<void> {
  return rt().sync();
}
