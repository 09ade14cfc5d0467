import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { A2VError } from "@a2v/errors";
import {
  audioPositions,
  LtxTransformer,
  loraKeyA,
  loraKeyB,
  loraScale,
  loraTargets,
  parseTransformerConfig,
  patchifyAudio,
  patchifyVideo,
  transformerParameters,
  videoPositions,
} from "@a2v/ltx-model";
import { errorStats } from "@a2v/ltx-model/parity";
import { SafetensorsFile, TransformerCheckpoint } from "@a2v/ltx-model/weights";
import { type Device, type HostTensor, init } from "@a2v/tensor-webgpu";
import { type A2VPreparedStep, a2vStep, prepareA2VStep } from "./strategy.js";

/** One compared tensor. Forward outputs use max |a−b|/(1+|b|); gradients use relative L2. */
export interface TransformerParityRow {
  name: string;
  metric: "max_scaled_abs" | "relative_l2";
  maxAbsError: number;
  /** ‖actual − expected‖₂ / ‖expected‖₂ (absolute when the reference is all zero). */
  relativeError: number;
  error: number;
  tolerance: number;
  pass: boolean;
}

export interface TransformerParityReport {
  kind: string;
  dir: string;
  rows: TransformerParityRow[];
  pass: boolean;
}

/** Golden set kinds `runTransformerParity` checks (the VAE/text kinds live in `vae/golden-parity.ts`). */
export const TRANSFORMER_PARITY_KINDS = ["transformer_a2v_step"] as const;

/** Golden README tolerances: forward ≤ 1e-4·(1+|ref|), gradients ≤ 1e-3 relative L2. */
export const FORWARD_TOLERANCE = 1e-4;
export const GRADIENT_TOLERANCE = 1e-3;

export function compareForward(
  name: string,
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
): TransformerParityRow {
  const stats = errorStats(actual, expected);
  let scaled = actual.length === expected.length ? 0 : Number.POSITIVE_INFINITY;
  for (let i = 0; i < expected.length && scaled !== Number.POSITIVE_INFINITY; i++) {
    const s = Math.abs(actual[i]! - expected[i]!) / (1 + Math.abs(expected[i]!));
    scaled = Number.isNaN(s) ? Number.POSITIVE_INFINITY : Math.max(scaled, s);
  }
  return {
    name,
    metric: "max_scaled_abs",
    ...stats,
    error: scaled,
    tolerance: FORWARD_TOLERANCE,
    pass: scaled <= FORWARD_TOLERANCE,
  };
}

export function compareGradient(
  name: string,
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
): TransformerParityRow {
  // A parameter that cannot reach the loss has an all-zero reference: errorStats then compares absolutely.
  const stats = errorStats(actual, expected);
  return {
    name,
    metric: "relative_l2",
    ...stats,
    error: stats.relativeError,
    tolerance: GRADIENT_TOLERANCE,
    pass: stats.relativeError <= GRADIENT_TOLERANCE,
  };
}

async function readTensors(path: string): Promise<Map<string, HostTensor>> {
  const file = await SafetensorsFile.open(path);
  try {
    const out = new Map<string, HostTensor>();
    for (const e of file.entries()) out.set(e.name, { shape: e.shape, data: await file.readFloat32(e.name) });
    return out;
  } finally {
    await file.close();
  }
}

function missingTensor(dir: string, name: string): A2VError {
  return new A2VError("golden_invalid", `${dir}: tensors.safetensors has no ${name}`, {
    status: 422,
    details: [{ code: "golden_invalid", message: `missing tensor ${name}`, file: join(dir, "tensors.safetensors") }],
  });
}

export interface TransformerParityOptions {
  /** The device the one model code runs on: the CPU device (f64, default) or the GPU (fused kernels, Dawn). */
  device?: Device;
  onProgress?: (message: string) => void;
}

/**
 * Runs a `transformer_a2v_step` golden set on either device: builds the step from the set's latents, noise
 * and σ, then compares tokens, positions, predictions, loss, and (when the set has them) the LoRA
 * predictions and every LoRA gradient.
 */
export async function runTransformerParity(
  dir: string,
  options: TransformerParityOptions = {},
): Promise<TransformerParityReport> {
  const { onProgress } = options;
  const configPath = join(dir, "config.json");
  if (!existsSync(configPath)) {
    throw new A2VError("golden_invalid", `${dir}: not a golden set (no config.json)`, {
      status: 422,
      details: [{ code: "golden_invalid", message: "no config.json", file: configPath }],
    });
  }
  const golden = JSON.parse(await readFile(configPath, "utf8")) as Record<string, unknown>;
  if (!(TRANSFORMER_PARITY_KINDS as readonly unknown[]).includes(golden.kind)) {
    throw new A2VError(
      "golden_kind_unknown",
      `${configPath}: kind ${JSON.stringify(golden.kind)} is not a transformer set (${TRANSFORMER_PARITY_KINDS.join(", ")})`,
      {
        status: 422,
        details: [{ code: "golden_kind_unknown", message: String(golden.kind), file: configPath }],
      },
    );
  }
  const config = parseTransformerConfig(golden.transformer_config as Record<string, unknown>, join(dir, "config.json"));
  const tensors = await readTensors(join(dir, "tensors.safetensors"));
  const get = (name: string) => {
    const t = tensors.get(name);
    if (!t) throw missingTensor(dir, name);
    return t.data;
  };
  const videoShape = golden.video_latent_shape as number[];
  const [, channels, frames, height, width] = videoShape;
  const audioShape = golden.audio_latent_shape as number[];
  const grid = { frames: frames!, height: height!, width: width! };
  const videoClean = patchifyVideo(get("video_latents"), channels!, grid);
  const audioClean = patchifyAudio(get("audio_latents"), audioShape[1]!, audioShape[2]!, audioShape[3]!);
  const rows: TransformerParityRow[] = [
    compareForward("video_tokens", videoClean, get("video_tokens")),
    compareForward("audio_tokens", audioClean, get("audio_tokens")),
    compareForward("video_positions", videoPositions(grid, golden.fps as number), get("video_positions")),
    compareForward("audio_positions", audioPositions(audioShape[2]!), get("audio_positions")),
  ];
  const step: A2VPreparedStep = prepareA2VStep(config, {
    videoClean,
    noise: get("noise"),
    sigma: get("sigma")[0]!,
    grid,
    fps: golden.fps as number,
    audioClean,
    videoContext: get("video_context"),
    audioContext: get("audio_context"),
  });
  rows.push(
    compareForward("video_noisy", step.video.tokens, get("video_noisy")),
    compareForward("video_targets", step.targets, get("video_targets")),
    compareForward("video_timesteps", step.video.timesteps, get("video_timesteps")),
    compareForward("loss_mask", step.lossMask, get("loss_mask")),
  );

  const checkpoint = await TransformerCheckpoint.open(join(dir, "transformer.safetensors"), { config });
  const device = options.device ?? "cpu";
  if (device === "gpu") await init();
  const backend = new LtxTransformer({ device });
  try {
    await backend.loadWeights(
      checkpoint,
      transformerParameters(config).map((p) => p.key),
    );
  } finally {
    await checkpoint.close();
  }
  try {
    onProgress?.("forward without LoRA");
    const base = await a2vStep(backend, config, step);
    rows.push(
      compareForward("video_pred", base.video, get("video_pred")),
      compareForward("audio_pred", base.audio, get("audio_pred")),
      compareForward("loss", [base.loss], get("loss")),
    );

    const loraPath = join(dir, "lora.safetensors");
    if (existsSync(loraPath) && golden.lora) {
      const spec = golden.lora as { rank: number; alpha: number; target_modules: string[] };
      const lora = { rank: spec.rank, alpha: spec.alpha, targetModules: spec.target_modules };
      const targets = loraTargets(config, lora);
      const loraTensors = await readTensors(loraPath);
      for (const target of targets) {
        for (const key of [loraKeyA(target.module), loraKeyB(target.module)]) {
          const t = loraTensors.get(`diffusion_model.${key}`) ?? loraTensors.get(key);
          if (!t) throw new A2VError("golden_invalid", `${loraPath}: no ${key}`, { status: 422 });
          backend.addParameter(key, t.data, t.shape[0]!, t.shape[1]!);
        }
      }
      onProgress?.("forward and backward with LoRA");
      const gradsPath = join(dir, "lora_grads.safetensors");
      const withGrads = existsSync(gradsPath);
      const out = await a2vStep(backend, config, step, {
        lora: { modules: new Set(targets.map((t) => t.module)), scale: loraScale(lora) },
        train: withGrads,
      });
      rows.push(
        compareForward("video_pred_lora", out.video, get("video_pred_lora")),
        compareForward("audio_pred_lora", out.audio, get("audio_pred_lora")),
        compareForward("loss_lora", [out.loss], get("loss_lora")),
      );
      if (withGrads) {
        const grads = await readTensors(gradsPath);
        for (const [name, expected] of grads) {
          const key = name.startsWith("diffusion_model.") ? name.slice("diffusion_model.".length) : name;
          rows.push(compareGradient(`grad ${key}`, await backend.parameterGrad(key), expected.data));
        }
      }
    }
  } finally {
    backend.dispose();
  }
  return { kind: "transformer_a2v_step", dir, rows, pass: rows.every((r) => r.pass) };
}

/** Table form for the CLI: one line per tensor. */
export function formatTransformerParity(report: TransformerParityReport): string {
  const lines = [`${report.kind} ${report.dir}`];
  for (const r of report.rows) {
    lines.push(
      `${r.pass ? "ok  " : "FAIL"} ${r.name.padEnd(72)} ${r.metric} ${r.error.toExponential(2)} (tol ${r.tolerance.toExponential(0)}, max abs ${r.maxAbsError.toExponential(2)})`,
    );
  }
  lines.push(report.pass ? "PASS" : "FAIL");
  return lines.join("\n");
}
