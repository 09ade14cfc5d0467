import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { A2VError } from "@a2v/errors";
import { errorStats, type ParityCheck, type ParityReport } from "@a2v/ltx-model/parity";
import { SafetensorsFile } from "@a2v/ltx-model/weights";
import { eulerStep, guide, x0FromVelocity } from "./guidance.js";
import { ltx2Sigmas } from "./schedules.js";
import { ShiftedLogitNormalSampler } from "./timestep-sampler.js";

/** Golden README tolerances for the `schedules` kind. */
export const SCHEDULE_TOLERANCE = { sigmas: 1e-6, sampler: 1e-6, x0: 1e-6, guided: 1e-5 } as const;

function check(
  name: string,
  actual: ArrayLike<number>,
  expected: ArrayLike<number> | undefined,
  tolerance: number,
): ParityCheck {
  const stats = expected ? errorStats(actual, expected) : { maxAbsError: Infinity, relativeError: Infinity };
  return { name, ...stats, tolerance, ok: stats.maxAbsError <= tolerance };
}

interface SchedulesConfig {
  kind: string;
  sigma_schedules: { tensor: string; steps: number; tokens: number; latent_passed: boolean }[];
  sampler: { std: number; eps: number; uniform_prob: number; mapping: { seq_length: number; outputs: string[] }[] };
  guided_step: {
    resolved_video_guider: { cfg_scale: number; stg_scale: number; modality_scale: number; rescale_scale: number };
  };
}

/**
 * Checks a `schedules` golden set: every sigma schedule, the timestep sampler on the injected draws, and the
 * guidance + rescale + Euler math of one validation step from the stored per-pass predictions.
 */
export async function runScheduleParity(dir: string): Promise<ParityReport> {
  const config = JSON.parse(await readFile(join(dir, "config.json"), "utf8")) as SchedulesConfig;
  if (config.kind !== "schedules") {
    throw new A2VError("golden_kind_unsupported", `${dir}: kind ${config.kind} is not "schedules"`, { status: 422 });
  }
  const file = await SafetensorsFile.open(join(dir, "tensors.safetensors"));
  const t = new Map<string, Float32Array>();
  try {
    for (const key of file.keys()) t.set(key, await file.readFloat32(key));
  } finally {
    await file.close();
  }
  const need = (name: string) => {
    const value = t.get(name);
    if (!value)
      throw new A2VError("golden_tensor_missing", `${dir}/tensors.safetensors has no ${name}`, { status: 422 });
    return value;
  };
  const checks: ParityCheck[] = [];
  for (const s of config.sigma_schedules) {
    const ours = ltx2Sigmas(s.steps, s.latent_passed ? { tokens: s.tokens } : {});
    checks.push(check(s.tensor, ours, t.get(s.tensor), SCHEDULE_TOLERANCE.sigmas));
  }
  const sampler = new ShiftedLogitNormalSampler({
    std: config.sampler.std,
    eps: config.sampler.eps,
    uniformProb: config.sampler.uniform_prob,
  });
  const [z, u, q] = ["sampler_normal_draws", "sampler_uniform_draws", "sampler_prob_draws"].map(need);
  for (const m of config.sampler.mapping) {
    const draws = Array.from(z!, (_, i) => sampler.map(m.seq_length, z![i]!, u![i]!, q![i]!));
    const stages = [draws.map((d) => d.logitNormal), draws.map((d) => d.stretched), draws.map((d) => d.sample)];
    for (const [i, name] of m.outputs.entries()) {
      checks.push(check(name, stages[i]!, t.get(name), SCHEDULE_TOLERANCE.sampler));
    }
  }
  const xt = need("video_tokens_noisy");
  const channels = xt.length / need("video_timesteps").length;
  const x0 = Object.fromEntries(
    ["pos", "neg", "stg", "mod"].map((pass) => {
      const ours = x0FromVelocity(xt, need(`velocity_${pass}`), need("video_timesteps"), channels);
      checks.push(check(`x0_${pass}`, ours, t.get(`x0_${pass}`), SCHEDULE_TOLERANCE.x0));
      return [pass, need(`x0_${pass}`)];
    }),
  );
  const g = config.guided_step.resolved_video_guider;
  const r = guide(
    { pos: x0.pos!, neg: x0.neg, stg: x0.stg, mod: x0.mod },
    { cfg: g.cfg_scale, stg: g.stg_scale, modality: g.modality_scale, rescale: g.rescale_scale },
  );
  checks.push(check("guided_unrescaled", r.unrescaled, t.get("guided_unrescaled"), SCHEDULE_TOLERANCE.guided));
  checks.push(check("rescale_factor", [r.rescaleFactor], t.get("rescale_factor"), SCHEDULE_TOLERANCE.guided));
  checks.push(check("guided_x0", r.guided, t.get("guided_x0"), SCHEDULE_TOLERANCE.guided));
  const next = eulerStep(xt, r.guided, need("step_sigma")[0]!, need("step_sigma_next")[0]!);
  checks.push(check("video_tokens_next", next, t.get("video_tokens_next"), SCHEDULE_TOLERANCE.guided));
  return { kind: "schedules", dir, device: "cpu", checks, ok: checks.every((c) => c.ok) };
}
