import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { encodeFloats } from "../src/weights/dtypes.js";
import { encodeSafetensors, SafetensorsFile, writeSafetensors } from "../src/weights/safetensors.js";
import { hasGolden, TRANSFORMER_GOLDEN } from "./golden.js";

const dir = await mkdtemp(join(tmpdir(), "ltx-safetensors-"));
afterAll(() => rm(dir, { recursive: true, force: true }));

describe("safetensors reader and writer", () => {
  it("writes, then reads lazily by offset, every float dtype with metadata", async () => {
    const path = join(dir, "mixed.safetensors");
    const values = [1, -2, 0.5, 3.25];
    await writeSafetensors(
      path,
      [
        { name: "b.f32", dtype: "F32", shape: [2, 2], data: encodeFloats(values, "F32") },
        { name: "a.bf16", dtype: "BF16", shape: [4], data: encodeFloats(values, "BF16") },
        { name: "c.f16", dtype: "F16", shape: [1, 4], data: encodeFloats(values, "F16") },
        { name: "d.e4m3", dtype: "F8_E4M3", shape: [2], data: Uint8Array.of(0x38, 0xb8) },
      ],
      { config: JSON.stringify({ transformer: { num_layers: 1 } }), note: "x" },
    );
    const file = await SafetensorsFile.open(path);
    expect(file.metadata.note).toBe("x");
    expect(JSON.parse(file.metadata.config!)).toEqual({ transformer: { num_layers: 1 } });
    expect(file.keys().sort()).toEqual(["a.bf16", "b.f32", "c.f16", "d.e4m3"]);
    expect(file.entry("b.f32").shape).toEqual([2, 2]);
    // Data section aligned to 8 bytes after the header.
    expect(file.entries().every((e) => e.offset % 8 === 0 || e.dtype !== "F32")).toBe(true);
    for (const name of ["a.bf16", "b.f32", "c.f16"]) expect(Array.from(await file.readFloat32(name))).toEqual(values);
    expect(Array.from(await file.readFloat32("d.e4m3"))).toEqual([1, -1]);
    await file.close();
  });

  it("rejects corrupt files with errors naming the file and the rule", async () => {
    const short = join(dir, "short.safetensors");
    await writeFile(short, Uint8Array.of(1, 2, 3));
    await expect(SafetensorsFile.open(short)).rejects.toMatchObject({ code: "safetensors_invalid", status: 422 });

    const bytes = encodeSafetensors([{ name: "x", dtype: "F32", shape: [4], data: encodeFloats([1, 2, 3, 4], "F32") }]);
    const truncated = join(dir, "truncated.safetensors");
    await writeFile(truncated, bytes.subarray(0, bytes.length - 4));
    await expect(SafetensorsFile.open(truncated)).rejects.toThrow(/truncated\.safetensors: tensor x ends at byte 16/);

    const badShape = new TextEncoder().encode(
      JSON.stringify({ x: { dtype: "F32", shape: [3], data_offsets: [0, 16] } }),
    );
    const buf = new Uint8Array(8 + badShape.length + 16);
    new DataView(buf.buffer).setBigUint64(0, BigInt(badShape.length), true);
    buf.set(badShape, 8);
    const mis = join(dir, "mis.safetensors");
    await writeFile(mis, buf);
    await expect(SafetensorsFile.open(mis)).rejects.toThrow(/data_offsets span 16 bytes, shape needs 12/);
  });

  it("refuses writing data that does not match the shape", () => {
    expect(() => encodeSafetensors([{ name: "x", dtype: "BF16", shape: [3], data: new Uint8Array(4) }])).toThrow(
      /do not match shape/,
    );
  });

  it.skipIf(!hasGolden)("reads the golden weights and their metadata-free header", async () => {
    const file = await SafetensorsFile.open(join(TRANSFORMER_GOLDEN, "transformer.safetensors"));
    const entry = file.entry("transformer_blocks.0.attn1.to_q.weight");
    expect(entry.dtype).toBe("F32");
    expect(entry.shape).toEqual([32, 32]);
    const values = await file.readFloat32("transformer_blocks.0.attn1.to_q.weight");
    expect(values.length).toBe(1024);
    expect(values.some((v) => v !== 0)).toBe(true);
    await file.close();
  });
});
