/**
 * Size-bucketed GPU buffer pool. A released buffer may still be read or written by recorded commands
 * that have not been submitted yet (and `queue.writeBuffer` would overtake them), so it is parked
 * under the batch it was released in and only becomes reusable once that batch has been submitted.
 */
// UNIFORM too: the CPU-adapter GEMM binds windows of packed operands as uniform buffers (ops/matmul-panel.ts).
export const STORAGE_USAGE = 0x80 | 0x40 | 0x04 | 0x08; // STORAGE | UNIFORM | COPY_SRC | COPY_DST

/** Buckets: powers of two up to 1 MiB, then eight steps per power of two (at most 12.5% waste). */
export function bucketSize(bytes: number): number {
  const n = Math.max(16, Math.ceil(bytes / 16) * 16);
  if (n <= 1 << 20) return 2 ** Math.ceil(Math.log2(n));
  const p = 2 ** Math.floor(Math.log2(n));
  const step = p / 8;
  return Math.ceil(n / step) * step;
}

export interface PoolStats {
  /** Bytes in buffers handed out and not released. */
  liveBytes: number;
  /** Bytes cached for reuse (free plus waiting for their batch to be submitted). */
  cachedBytes: number;
  /** High-water mark of live plus cached bytes: the most device memory the pool has held at once. */
  peakBytes: number;
  /** High-water mark of live bytes: the most the tensors themselves needed at once (the cache aside). */
  peakLiveBytes: number;
  created: number;
  reused: number;
  /** Times cached buffers were destroyed because a new buffer would have taken the pool past `budgetBytes`. */
  trims: number;
}

export class BufferPool {
  private readonly free = new Map<number, GPUBuffer[]>();
  private readonly parked = new Map<number, GPUBuffer[]>();
  readonly stats: PoolStats = {
    liveBytes: 0,
    cachedBytes: 0,
    peakBytes: 0,
    peakLiveBytes: 0,
    created: 0,
    reused: 0,
    trims: 0,
  };
  /**
   * The most device memory the pool should hold, cache included (default: no bound). When creating a buffer would
   * take live plus cached bytes past it, free cached buffers are destroyed first (largest first, only as many as
   * needed), and again after each submit, so what the pool holds stays within the budget whenever the tensors
   * themselves fit (buffers released in the batch being recorded stay until it is submitted; under a budget the
   * runtime compiles pipelines synchronously so batches never wait). The runtime sets it from `A2V_GPU_MEMORY_GIB`.
   */
  budgetBytes = Number.POSITIVE_INFINITY;
  /**
   * Called when creating a buffer would pass the budget while every cached buffer still waits for its batch to be
   * submitted: the runtime submits what it has recorded (see `Runtime`), so those buffers can be trimmed.
   */
  onPressure: (() => void) | undefined;

  constructor(private readonly device: GPUDevice) {}

  acquire(bytes: number): GPUBuffer {
    const size = bucketSize(bytes);
    const cached = this.free.get(size)?.pop();
    this.stats.liveBytes += size;
    this.stats.peakLiveBytes = Math.max(this.stats.peakLiveBytes, this.stats.liveBytes);
    if (cached) {
      this.stats.cachedBytes -= size;
      this.stats.reused++;
      return cached;
    }
    if (this.overBudget() && this.free.size === 0 && this.parked.size > 0) this.onPressure?.();
    this.trimToBudget();
    this.stats.created++;
    this.stats.peakBytes = Math.max(this.stats.peakBytes, this.stats.liveBytes + this.stats.cachedBytes);
    return this.device.createBuffer({ size, usage: STORAGE_USAGE });
  }

  /** Returns a buffer; it is reused only after batch `batch` (the one being recorded) is submitted. */
  release(buffer: GPUBuffer, batch: number): void {
    this.stats.liveBytes -= buffer.size;
    this.stats.cachedBytes += buffer.size;
    const list = this.parked.get(batch) ?? [];
    list.push(buffer);
    this.parked.set(batch, list);
  }

  /** Called once batch `batch` and every earlier one have been submitted. */
  submitted(batch: number): void {
    for (const [b, list] of this.parked) {
      if (b > batch) continue;
      for (const buffer of list) {
        const bucket = this.free.get(buffer.size) ?? [];
        bucket.push(buffer);
        this.free.set(buffer.size, bucket);
      }
      this.parked.delete(b);
    }
    this.trimToBudget();
  }

  /** Destroys every free cached buffer (parked ones stay until their batch is submitted). */
  trim(): void {
    for (const list of this.free.values()) {
      for (const buffer of list) {
        this.stats.cachedBytes -= buffer.size;
        buffer.destroy();
      }
    }
    this.free.clear();
  }

  private overBudget(): boolean {
    return this.stats.liveBytes + this.stats.cachedBytes > this.budgetBytes;
  }

  /** Past the budget: destroys free cached buffers, largest first, until within it (or nothing free is left). */
  private trimToBudget(): void {
    if (!this.overBudget() || this.free.size === 0) return;
    this.stats.trims++;
    const bytes = this.budgetBytes - this.stats.liveBytes;
    const sizes = [...this.free.keys()].sort((a, b) => b - a);
    for (const size of sizes) {
      const list = this.free.get(size)!;
      while (list.length > 0 && this.stats.cachedBytes > bytes) {
        list.pop()!.destroy();
        this.stats.cachedBytes -= size;
      }
      if (list.length === 0) this.free.delete(size);
      if (this.stats.cachedBytes <= bytes) return;
    }
  }

  /** Starts a new high-water mark from what the pool holds now (to measure the peak of one piece of work). */
  resetPeak(): void {
    this.stats.peakBytes = this.stats.liveBytes + this.stats.cachedBytes;
    this.stats.peakLiveBytes = this.stats.liveBytes;
  }
}
