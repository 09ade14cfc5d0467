import { afterAll, describe, expect, it } from "vitest";
import { releaseGpu, requestGpu, WANTED_LIMITS } from "../src/index.js";

afterAll(() => releaseGpu());

describe("requestGpu", () => {
  it("acquires one device with the adapter's real limits and reports what it got", async () => {
    const gpu = await requestGpu();
    expect(await requestGpu()).toBe(gpu);
    for (const key of WANTED_LIMITS) {
      expect(gpu.info.limits[key]).toBe(Number(gpu.adapter.limits[key]));
    }
    // Requested at the adapter's maximum, so above the WebGPU defaults on any real adapter.
    expect(gpu.info.limits.maxStorageBufferBindingSize).toBeGreaterThanOrEqual(128 * 1024 * 1024);
    for (const f of gpu.info.features) expect(gpu.device.features.has(f)).toBe(true);
    expect(typeof gpu.info.isSoftware).toBe("boolean");
  });

  it("runs a compute dispatch and reads back the checked result", async () => {
    const { device } = await requestGpu();
    const n = 1000;
    const input = Float32Array.from({ length: n }, (_, i) => i * 0.5 - 100);
    const module = device.createShaderModule({
      code: `@group(0) @binding(0) var<storage, read_write> a: array<f32>;
@compute @workgroup_size(64) fn main(@builtin(global_invocation_id) g: vec3u) {
  if (g.x < arrayLength(&a)) { a[g.x] = a[g.x] * a[g.x] + 1.0; }
}`,
    });
    const pipeline = device.createComputePipeline({ layout: "auto", compute: { module, entryPoint: "main" } });
    const buf = device.createBuffer({
      size: n * 4,
      usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST,
    });
    const read = device.createBuffer({ size: n * 4, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    device.queue.writeBuffer(buf, 0, input);
    const enc = device.createCommandEncoder();
    const pass = enc.beginComputePass();
    pass.setPipeline(pipeline);
    pass.setBindGroup(
      0,
      device.createBindGroup({
        layout: pipeline.getBindGroupLayout(0),
        entries: [{ binding: 0, resource: { buffer: buf } }],
      }),
    );
    pass.dispatchWorkgroups(Math.ceil(n / 64));
    pass.end();
    enc.copyBufferToBuffer(buf, 0, read, 0, n * 4);
    device.queue.submit([enc.finish()]);
    await read.mapAsync(GPUMapMode.READ);
    const out = new Float32Array(read.getMappedRange().slice(0));
    read.unmap();
    for (let i = 0; i < n; i++) expect(out[i]).toBeCloseTo(input[i]! * input[i]! + 1, 3);
    buf.destroy();
    read.destroy();
  });

  it("keeps Dawn's checks on under tests, and creates a production device (no validation, no robustness, no lazy clears) when asked", async () => {
    const checked = await requestGpu();
    expect(checked.info.checks).toBe("on");
    expect(checked.info.toggles.enabled).not.toContain("skip_validation");
    releaseGpu();
    const production = await requestGpu({ checks: "off" });
    try {
      expect(production.info.checks).toBe("off");
      expect(production.info.toggles.enabled).toEqual(
        expect.arrayContaining(["disable_robustness", "skip_validation"]),
      );
      expect(production.info.toggles.disabled).toContain("lazy_clear_resource_on_first_use");
      // The device computes: write, copy, read back through it.
      const { device } = production;
      const buf = device.createBuffer({ size: 16, usage: GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST });
      const read = device.createBuffer({ size: 16, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
      device.queue.writeBuffer(buf, 0, Float32Array.of(1, 2, 3, 4));
      const enc = device.createCommandEncoder();
      enc.copyBufferToBuffer(buf, 0, read, 0, 16);
      device.queue.submit([enc.finish()]);
      await read.mapAsync(GPUMapMode.READ);
      expect(Array.from(new Float32Array(read.getMappedRange().slice(0)))).toEqual([1, 2, 3, 4]);
      read.unmap();
    } finally {
      releaseGpu();
    }
  });
});
