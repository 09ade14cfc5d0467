import { existsSync } from "node:fs";
import { copyFile, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { loadEmbeddingsProcessor, TextPath, textConnectorsConfig } from "@a2v/ltx-model";
import { openWeightFile, readTensorFile, writeSafetensors } from "@a2v/ltx-model/weights";
import { type HostTensor, hostTensor } from "@a2v/tensor-webgpu";
import { afterAll, describe, expect, it } from "vitest";
import { EXIT, runCli } from "../src/index.js";

// There is no batch-2 golden set: this builds one in the official set's format from the batch-1 text_connector set
// (same weights and config), with a second, LEFT-padded sequence. Every tensor comes from our text path on the CPU
// device except the connectors' RoPE tables, which are the official set's, repeated per batch element as upstream does.
const golden = fileURLToPath(new URL("../../../../shared/golden/text_connector/", import.meta.url));
const present = existsSync(join(golden, "config.json"));
const INPUTS = new Set(["hidden_states", "attention_mask"]);
let dir = "";
afterAll(() => (dir ? rm(dir, { recursive: true, force: true }) : undefined));

function stack(rows: HostTensor[]): HostTensor {
  const data = new Float32Array(rows.reduce((n, r) => n + r.data.length, 0));
  let at = 0;
  for (const r of rows) {
    data.set(r.data, at);
    at += r.data.length;
  }
  return hostTensor([rows.length, ...rows[0]!.shape.slice(1)], data);
}

async function batchTwoSet(): Promise<{ dir: string; names: string[] }> {
  dir = await mkdtemp(join(tmpdir(), "a2v-parity-b2-"));
  const config = JSON.parse(await readFile(join(golden, "config.json"), "utf8")) as Record<string, unknown>;
  await writeFile(join(dir, "config.json"), JSON.stringify({ ...config, batch: 2, padding: "r3,l4" }, null, 1));
  await copyFile(join(golden, "embeddings_processor.safetensors"), join(dir, "embeddings_processor.safetensors"));
  const one = await readTensorFile(join(golden, "tensors.safetensors"));
  const hidden = one.get("hidden_states")!;
  const mask = one.get("attention_mask")!;
  const t = mask.shape[1]!;
  // Sequence 2: other states, the first four tokens padding (left padding, as Gemma captions are).
  const other = hostTensor(
    hidden.shape,
    Float32Array.from(hidden.data, (v, i) => 0.7 * v - 0.05 * Math.sin(i)),
  );
  const leftMask = hostTensor(
    [1, t],
    Float32Array.from({ length: t }, (_, i) => (i < 4 ? 0 : 1)),
  );
  const states = stack([hidden, other]);
  const masks = stack([mask, leftMask]);
  const cfg = textConnectorsConfig(config.transformer_config as Record<string, unknown>, join(dir, "config.json"));
  const file = join(dir, "embeddings_processor.safetensors");
  const source = await openWeightFile(file);
  const weights = await loadEmbeddingsProcessor(source, cfg, file).finally(() => source.close());
  const out = new Map<string, HostTensor>([
    ["hidden_states", states],
    ["attention_mask", masks],
  ]);
  const path = await TextPath.create(cfg, weights, { device: "cpu" });
  const contexts = await path.processHiddenStates(states, masks, (name, value) => out.set(name, value));
  path.dispose();
  out.set("video_context", contexts.video);
  out.set("audio_context", contexts.audio);
  out.set("context_mask", contexts.mask);
  const additive = Float32Array.from(masks.data, (m) => (m - 1) * 3.4028234663852886e38);
  out.set("additive_mask", hostTensor([2, 1, 1, t], additive));
  for (const name of [
    "video_connector_rope_cos",
    "video_connector_rope_sin",
    "audio_connector_rope_cos",
    "audio_connector_rope_sin",
  ]) {
    out.set(name, stack([one.get(name)!, one.get(name)!]));
  }
  // Every tensor the batch-1 set has, now with batch 2.
  expect([...out.keys()].sort()).toEqual([...one.keys()].sort());
  for (const [name, value] of out) expect(value.shape[0], name).toBe(2);
  const f32 = (x: Float32Array) => new Uint8Array(x.buffer, x.byteOffset, x.byteLength);
  await writeSafetensors(
    join(dir, "tensors.safetensors"),
    [...out].map(([name, v]) => ({
      name,
      dtype: "F32" as const,
      shape: [...v.shape],
      data: f32(Float32Array.from(v.data)),
    })),
  );
  // Sequence 1 is the official batch-1 set's: batching must not mix the sequences.
  for (const name of ["video_context", "audio_context", "video_connector_block_1"]) {
    const row = out.get(name)!.data.subarray(0, one.get(name)!.data.length);
    const worst = row.reduce((w, v, i) => Math.max(w, Math.abs(v - one.get(name)!.data[i]!)), 0);
    expect(worst, name).toBeLessThan(1e-5);
  }
  return { dir, names: [...out.keys()].filter((n) => !INPUTS.has(n)) };
}

describe("a2v parity on a batch-2 text_connector set (left padding in the second sequence)", () => {
  it.skipIf(!present)(
    "checks every tensor, including the per-batch RoPE tables, and passes on CPU and GPU",
    async () => {
      const set = await batchTwoSet();
      const out: string[] = [];
      const code = await runCli(["parity", set.dir, "--json"], { stdout: (s) => out.push(s), stderr: () => {} });
      const [result] = JSON.parse(out.join("\n")) as [{ ok: boolean; checks: { name: string; ok: boolean }[] }];
      const failed = result.checks.filter((c) => !c.ok);
      expect(failed).toEqual([]);
      expect(code).toBe(EXIT.ok);
      const checked = new Set(result.checks.map((c) => c.name));
      for (const name of set.names) expect(checked.has(name), name).toBe(true);

      const gpuOut: string[] = [];
      const gpuCode = await runCli(["parity", set.dir, "--gpu", "--json"], {
        stdout: (s) => gpuOut.push(s),
        stderr: () => {},
      });
      const [gpu] = JSON.parse(gpuOut.join("\n")) as [{ ok: boolean; checks: { name: string; ok: boolean }[] }];
      expect(gpu.checks.filter((c) => !c.ok)).toEqual([]);
      expect(gpu.checks.map((c) => c.name)).toEqual(
        expect.arrayContaining(["video_features", "audio_features", "video_context", "audio_context", "context_mask"]),
      );
      expect(gpuCode).toBe(EXIT.ok);
    },
  );
});
