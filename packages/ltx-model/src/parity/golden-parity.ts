import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { A2VError } from "@a2v/errors";
import type { Device, Tensor } from "@a2v/tensor-webgpu";
import { type HostTensor, hostTensor } from "@a2v/tensor-webgpu";
import { audioVaeEncoderConfig } from "../audio-vae/config.js";
import { AudioEncoder } from "../audio-vae/encoder.js";
import { audioEncoderInput } from "../audio-vae/features.js";
import { loadAudioEncoder } from "../audio-vae/load.js";
import { audioTokens } from "../audio-vae/tokens.js";
import { textConnectorsConfig } from "../text/config.js";
import { loadEmbeddingsProcessor } from "../text/load.js";
import { additiveMask, TextPath } from "../text/text-path.js";
import { openWeightFile, readTensorFile } from "../vae/component-weights.js";
import { videoVaeConfig } from "../vae/config.js";
import { loadVideoVae } from "../vae/load.js";
import { fromHost, toHost } from "../vae/tensors.js";
import { VideoVae } from "../vae/video-vae.js";
import { compare, type ParityCheck, tracer } from "./parity-check.js";

export interface ParityReport {
  kind: string;
  dir: string;
  device: "cpu" | "gpu";
  checks: ParityCheck[];
  ok: boolean;
}

/** The golden set kinds this module checks. */
export const VAE_AND_TEXT_PARITY_KINDS = ["video_vae", "audio_features_and_vae", "text_connector"] as const;

const get = (m: Map<string, HostTensor>, k: string) => {
  const t = m.get(k);
  if (!t) throw new A2VError("golden_tensor_missing", `tensors.safetensors has no ${k}`, { status: 422 });
  return t;
};

async function load<T>(
  path: string,
  fn: (source: Awaited<ReturnType<typeof openWeightFile>>) => Promise<T>,
): Promise<T> {
  const source = await openWeightFile(path);
  try {
    return await fn(source);
  } finally {
    await source.close();
  }
}

/** Runs a model on `device` on a host tensor put there, and reads its result back. */
async function onDevice(
  device: Device,
  input: HostTensor,
  run: (x: Tensor) => Tensor | Promise<Tensor>,
): Promise<HostTensor> {
  const x = fromHost(input, device);
  const y = await run(x);
  const out = await toHost(y);
  x.dispose();
  y.dispose();
  return out;
}

/** A tensor trace that reads each intermediate back for a host trace. */
const tensorTrace =
  (trace: (name: string, value: HostTensor) => void) =>
  async (name: string, value: Tensor): Promise<void> =>
    trace(name, await toHost(value));

async function videoVae(dir: string, config: Record<string, unknown>, device: Device): Promise<ParityCheck[]> {
  const vae = videoVaeConfig(config.vae_metadata as Record<string, unknown>, join(dir, "config.json"));
  const t = await readTensorFile(join(dir, "tensors.safetensors"));
  const checks: ParityCheck[] = [];
  for (const [part, input, output, tol] of [
    ["encoder", "video", "latent", 1e-4],
    ["decoder", "latent", "decoded", 2e-4],
  ] as const) {
    const file = join(dir, `video_${part}.safetensors`);
    const loaded = await load(file, (s) => loadVideoVae(part, s, vae, file));
    const trace = tensorTrace(tracer(t, tol, checks));
    const model = await VideoVae.create({ [part]: loaded }, { device });
    const out = await onDevice(device, get(t, input), (x) =>
      part === "encoder" ? model.encode(x, trace) : model.decode(x, trace),
    );
    model.dispose();
    checks.push(compare(output, out, get(t, output), tol));
  }
  return checks;
}

async function audio(dir: string, config: Record<string, unknown>, device: Device): Promise<ParityCheck[]> {
  const tiny = config.tiny_encoder as { ddconfig: unknown; preprocessing: unknown };
  const cfg = audioVaeEncoderConfig(
    { model: { params: { ddconfig: tiny.ddconfig } }, preprocessing: tiny.preprocessing },
    join(dir, "config.json"),
  );
  const t = await readTensorFile(join(dir, "tensors.safetensors"));
  const file = join(dir, "audio_encoder.safetensors");
  const loaded = await load(file, (s) => loadAudioEncoder(s, cfg, file));
  const checks: ParityCheck[] = [];
  const encoder = await AudioEncoder.create(loaded, { device });
  const encode = async (mel: HostTensor, trace?: (name: string, value: HostTensor) => void) => {
    const traced: Array<[string, Tensor]> = [];
    const latent = await onDevice(device, mel, (x) =>
      encoder.encode(
        x,
        trace && ((name, value) => traced.push([name, value.view(value.shape, value.strides, value.offset)])),
      ),
    );
    for (const [name, value] of traced) {
      trace?.(name, await toHost(value));
      value.dispose();
    }
    return latent;
  };
  const latent = await encode(get(t, "mel"), tracer(t, 1e-4, checks));
  checks.push(compare("latent", latent, get(t, "latent"), 1e-4));
  const { tokens, positions } = audioTokens(latent, cfg);
  checks.push(
    compare("tokens", tokens, get(t, "tokens"), 1e-4),
    compare("positions", positions, get(t, "positions"), 0),
  );
  const wave = get(t, "waveform");
  const [channels, samples] = [wave.shape[1]!, wave.shape[2]!];
  const pcm = Array.from({ length: channels }, (_, c) => wave.data.subarray(c * samples, (c + 1) * samples));
  const fromWave = await encode(audioEncoderInput(pcm, Number(config.input_sample_rate)));
  checks.push(compare("latent (from waveform)", fromWave, get(t, "latent"), 1e-3));
  encoder.dispose();
  return checks;
}

async function text(dir: string, config: Record<string, unknown>, device: Device): Promise<ParityCheck[]> {
  const cfg = textConnectorsConfig(config.transformer_config as Record<string, unknown>, join(dir, "config.json"));
  const t = await readTensorFile(join(dir, "tensors.safetensors"));
  const file = join(dir, "embeddings_processor.safetensors");
  const weights = await load(file, (s) => loadEmbeddingsProcessor(s, cfg, file));
  const mask = get(t, "attention_mask");
  const checks: ParityCheck[] = [];
  // Masks and the sort order must match exactly; values to 1e-5.
  const exact = new Set(["sort_idx", "sorted_additive_mask"]);
  const trace = (name: string, value: HostTensor) => {
    const e = t.get(name);
    if (e) checks.push(compare(name, value, e, exact.has(name) ? 0 : 1e-5));
  };
  const path = await TextPath.create(cfg, weights, { device });
  try {
    const out = await path.processHiddenStates(get(t, "hidden_states"), mask, trace);
    checks.push(
      compare(
        "additive_mask",
        hostTensor([...get(t, "additive_mask").shape], additiveMask(mask)),
        get(t, "additive_mask"),
        0,
      ),
    );
    checks.push(compare("video_context", out.video, get(t, "video_context"), 1e-5));
    checks.push(compare("audio_context", out.audio, get(t, "audio_context"), 1e-5));
    checks.push(compare("context_mask", out.mask, get(t, "context_mask"), 0));
    const cached = await path.createEmbeddings(get(t, "video_features"), get(t, "audio_features"), mask);
    checks.push(compare("video_context (from cached features)", cached.video, get(t, "video_context"), 1e-5));
    checks.push(compare("audio_context (from cached features)", cached.audio, get(t, "audio_context"), 1e-5));
  } finally {
    path.dispose();
  }
  return checks;
}

/**
 * Runs a golden set of kind `video_vae`, `audio_features_and_vae` or `text_connector` (read from its
 * `config.json`) on `device` (default the CPU device, the f64 reference; or the GPU), with the tolerances
 * of the set's README. Every compared output and intermediate is one check.
 */
export async function goldenParity(dir: string, options: { device?: Device } = {}): Promise<ParityReport> {
  const config = JSON.parse(await readFile(join(dir, "config.json"), "utf8")) as Record<string, unknown>;
  const kind = String(config.kind);
  const device = options.device ?? "cpu";
  const run = { video_vae: videoVae, audio_features_and_vae: audio, text_connector: text }[kind];
  if (!run) {
    throw new A2VError(
      "golden_kind_unsupported",
      `${dir}: kind ${kind} is not one of ${VAE_AND_TEXT_PARITY_KINDS.join(", ")}`,
      {
        status: 422,
      },
    );
  }
  const checks = await run(dir, config, device);
  return { kind, dir, device, checks, ok: checks.every((c) => c.ok) };
}
