// Trains a LoRA through the SDK on the example dataset with the embedded tiny model, printing each stage, the loss
// every 10 steps, and the outputs. Run after `npm run demo` (which builds the packages):
//   node examples/train/train.mjs [outDir]
import { readFile } from "node:fs/promises";
import { isA2VError, train } from "@a2v/sdk";

const input = JSON.parse(await readFile(new URL("./demo-input.json", import.meta.url), "utf8"));
input.training_data_url = new URL("../dataset/a2v-example.zip", import.meta.url).pathname;
const outDir = process.argv[2] ?? "example-output";

const controller = new AbortController();
process.once("SIGINT", () => controller.abort()); // stops at the next step, after a checkpoint

const job = train(input, { outDir, model: "tiny", signal: controller.signal });
try {
  for await (const event of job) {
    if (event.type === "stage" && event.status === "done") console.log(`${event.stage}: ${event.seconds.toFixed(1)} s`);
    if (event.type === "step" && event.step % 10 === 0)
      console.log(`step ${event.step}: loss ${event.loss.toFixed(4)}`);
  }
  const result = await job;
  const { before, after } = result.metrics.evaluation;
  console.log(`evaluation loss ${before.toFixed(4)} (base) -> ${after.toFixed(4)} (trained)`);
  console.log(
    JSON.stringify({ lora_file: result.lora_file, config_file: result.config_file, billing: result.billing }),
  );
} catch (error) {
  if (!isA2VError(error)) throw error;
  console.error(JSON.stringify(error, null, 2));
  process.exitCode = error.status === 422 ? 3 : 1;
}
