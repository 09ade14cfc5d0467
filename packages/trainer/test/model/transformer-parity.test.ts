import { cp, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { encodeFloats, SafetensorsFile, writeSafetensors } from "@a2v/ltx-model/weights";
import { releaseGpu } from "@a2v/tensor-webgpu";
import { afterAll, describe, expect, it } from "vitest";
import { formatTransformerParity, runTransformerParity } from "../../src/transformer-parity.js";
import { hasGolden, TRANSFORMER_GOLDEN } from "./golden.js";

const dir = await mkdtemp(join(tmpdir(), "ltx-parity-"));
afterAll(async () => {
  releaseGpu();
  await rm(dir, { recursive: true, force: true });
});

describe.skipIf(!hasGolden)("runTransformerParity", () => {
  it("passes the transformer_a2v golden set on every tensor, gradients included", async () => {
    const messages: string[] = [];
    const report = await runTransformerParity(TRANSFORMER_GOLDEN, { onProgress: (m) => messages.push(m) });
    expect(report.kind).toBe("transformer_a2v_step");
    expect(report.rows.filter((r) => r.name.startsWith("grad ")).length).toBe(96);
    expect(report.rows.map((r) => r.name)).toEqual(
      expect.arrayContaining(["video_pred", "loss_lora", "video_positions", "video_tokens"]),
    );
    expect(report.rows.filter((r) => !r.pass)).toEqual([]);
    expect(report.pass).toBe(true);
    expect(messages.length).toBeGreaterThan(0);
    expect(formatTransformerParity(report)).toMatch(/PASS$/);
  });

  it("passes on the GPU backend too (fused kernels on Dawn)", { timeout: 400_000 }, async () => {
    const report = await runTransformerParity(TRANSFORMER_GOLDEN, { device: "gpu" });
    expect(report.rows.filter((r) => r.name.startsWith("grad ")).length).toBe(96);
    expect(report.rows.filter((r) => !r.pass)).toEqual([]);
  });

  it("fails, naming the tensor, when the reference disagrees", async () => {
    const copy = join(dir, "tampered");
    await cp(TRANSFORMER_GOLDEN, copy, { recursive: true });
    const file = await SafetensorsFile.open(join(copy, "tensors.safetensors"));
    const tensors = [];
    for (const e of file.entries()) {
      const data = await file.readFloat32(e.name);
      if (e.name === "audio_pred") data[3] = data[3]! + 0.01;
      tensors.push({ name: e.name, dtype: "F32" as const, shape: e.shape, data: encodeFloats(data, "F32") });
    }
    await file.close();
    await writeSafetensors(join(copy, "tensors.safetensors"), tensors);
    const report = await runTransformerParity(copy);
    expect(report.pass).toBe(false);
    expect(report.rows.filter((r) => !r.pass).map((r) => r.name)).toEqual(["audio_pred"]);
    expect(formatTransformerParity(report)).toMatch(/FAIL audio_pred/);
  });

  it("rejects folders that are not golden sets or have an unknown kind", async () => {
    await expect(runTransformerParity(dir)).rejects.toMatchObject({ code: "golden_invalid", status: 422 });
    const odd = join(dir, "odd");
    await cp(TRANSFORMER_GOLDEN, odd, { recursive: true });
    await writeFile(join(odd, "config.json"), JSON.stringify({ kind: "mystery" }));
    await expect(runTransformerParity(odd)).rejects.toThrow(/kind "mystery" is not a transformer set/);
  });
});
