// Trains a LoRA through the SDK on the example dataset with the embedded tiny model, printing each stage, the loss
// every 10 steps, the validation preview, and the outputs (LoRA, config, validation reel).
// Run after `npm run demo` (which builds the packages): node examples/train/train.mjs [outDir]
import { readFile } from "node:fs/promises";
import { isA2VError, train } from "@a2v/sdk";

// demo-input.json names its files from the repository root (as `npm run demo` runs it); resolve them from here.
const input = JSON.parse(await readFile(new URL("./demo-input.json", import.meta.url), "utf8"));
const fromRoot = (path) => new URL(path, new URL("../../", import.meta.url)).pathname;
input.training_data_url = fromRoot(input.training_data_url);
for (const v of input.validation)
  Object.assign(v, { image_url: fromRoot(v.image_url), audio_url: fromRoot(v.audio_url) });
const outDir = process.argv[2] ?? "example-output";

const controller = new AbortController();
process.once("SIGINT", () => controller.abort()); // stops at the next step, after a checkpoint

const job = train(input, { outDir, model: "tiny", signal: controller.signal });
try {
  for await (const event of job) {
    if (event.type === "stage" && event.status === "done") console.log(`${event.stage}: ${event.seconds.toFixed(1)} s`);
    if (event.type === "step" && event.step % 10 === 0)
      console.log(`step ${event.step}: loss ${event.loss.toFixed(4)}`);
    if (event.type === "preview") console.log(`preview at step ${event.step}: ${event.file}`);
  }
  const result = await job;
  const { before, after } = result.metrics.evaluation;
  console.log(`evaluation loss ${before.toFixed(4)} (base) -> ${after.toFixed(4)} (trained)`);
  const { lora_file, config_file, video, billing } = result;
  console.log(JSON.stringify({ lora_file, config_file, video, billing }));
} catch (error) {
  if (!isA2VError(error)) throw error;
  console.error(JSON.stringify(error, null, 2));
  process.exitCode = error.status === 422 ? 3 : 1;
}
