import {
  DEFAULT_LORA_TARGETS,
  initLoraWeights,
  LTX_23_22B,
  LTX_TINY,
  LtxTransformer,
  type LtxTransformerConfig,
  loraScale,
  loraTargets,
  transformerParameters,
} from "@a2v/ltx-model";
import { init, rt } from "@a2v/tensor-webgpu";
import { beforeAll, bench, describe } from "vitest";
import { type A2VPreparedStep, a2vStep } from "../src/strategy.js";
import { syntheticStep, syntheticWeights } from "./synthetic.js";

// A forward+backward LoRA training step (a2v: first frame clean, audio frozen) on lavapipe-sized
// shapes: the tiny 2-layer model, and ONE block of the 22B model at full width (4096/2048, 32 heads)
// over a handful of tokens. "fused" runs the runtime's flash attention, RoPE and LoRA-GEMM kernels;
// "plain ops" composes the same maths from matmul/softmax/elementwise kernels.

interface Case {
  name: string;
  config: LtxTransformerConfig;
  step: A2VPreparedStep;
  rank: number;
  weightDType: "f32" | "bf16";
  /** A full-width step takes minutes on lavapipe: one timed run, its pipelines compiled in it. */
  iterations: number;
  warmupIterations: number;
}

const cases: Case[] = [
  {
    name: "tiny model (2 layers, 18+5 tokens)",
    config: LTX_TINY,
    step: syntheticStep(LTX_TINY, { frames: 3, height: 2, width: 3 }, 5),
    rank: 4,
    weightDType: "f32",
    iterations: 10,
    warmupIterations: 3,
  },
  {
    name: "one 22B block at full width (bf16 weights, 8+4 tokens)",
    config: { ...LTX_23_22B, numLayers: 1 },
    step: syntheticStep({ ...LTX_23_22B, numLayers: 1 }, { frames: 2, height: 2, width: 2 }, 4),
    rank: 32,
    weightDType: "bf16",
    iterations: Number(process.env.A2V_BENCH_BLOCK_ITERATIONS ?? 1),
    warmupIterations: Number(process.env.A2V_BENCH_BLOCK_WARMUP ?? 0),
  },
];

const backends = new Map<string, LtxTransformer>();
beforeAll(async () => {
  await init();
});

async function backendFor(c: Case, fused: boolean): Promise<LtxTransformer> {
  const id = `${c.name}/${fused}`;
  let b = backends.get(id);
  if (!b) {
    // Free the other variant's weights first: a full-width block is ~1.4 GB even in bf16.
    for (const [k, other] of backends) {
      other.dispose();
      backends.delete(k);
    }
    b = new LtxTransformer({ fused, weightDType: c.weightDType });
    await b.loadWeights(
      syntheticWeights(c.config),
      transformerParameters(c.config).map((p) => p.key),
    );
    const targets = loraTargets(c.config, { rank: c.rank, alpha: c.rank, targetModules: DEFAULT_LORA_TARGETS });
    let seed = 7;
    const random = () => {
      seed = (Math.imul(seed, 48271) + 1) >>> 0;
      return seed / 4294967296;
    };
    for (const [key, t] of initLoraWeights(targets, c.rank, random)) {
      // B starts at zero upstream; a small non-zero B makes the LoRA path do real work here.
      const data = key.endsWith(".lora_A.weight") ? t.data : t.data.map((v, i) => v || Math.sin(i) * 1e-3);
      b.addParameter(key, data, t.shape[0]!, t.shape[1]!);
    }
    backends.set(id, b);
  }
  return b;
}

for (const c of cases) {
  const targets = loraTargets(c.config, { rank: c.rank, alpha: c.rank, targetModules: DEFAULT_LORA_TARGETS });
  const lora = {
    modules: new Set(targets.map((t) => t.module)),
    scale: loraScale({ rank: c.rank, alpha: c.rank, targetModules: [] }),
  };
  describe(`a2v LoRA training step, ${c.name}`, () => {
    for (const fused of [true, false]) {
      bench(
        fused ? "fused kernels" : "plain ops",
        async () => {
          const b = await backendFor(c, fused);
          b.zeroGrad();
          await a2vStep(b, c.config, c.step, { lora, train: true, gradientCheckpointing: true });
          await rt().idle();
        },
        { iterations: c.iterations, warmupIterations: c.warmupIterations, time: 0, warmupTime: 0 },
      );
    }
  });
}
