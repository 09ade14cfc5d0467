// Validates a dataset archive with @a2v/dataset and prints the summary (build it first:
// `pnpm --filter @a2v/dataset build`). Usage: node examples/dataset/validate.mjs [zip|url] [trigger phrase]
import { fileURLToPath } from "node:url";
import { formatManifest, loadDataset } from "../../packages/dataset/dist/index.js";

const source = process.argv[2] ?? fileURLToPath(new URL("a2v-example.zip", import.meta.url));
try {
  const manifest = await loadDataset(source, {
    triggerPhrase: process.argv[3] ?? "",
    onProgress: (e) => e.phase === "probe" && process.stderr.write(`\rprobing ${e.done}/${e.total}`),
  });
  process.stderr.write("\n");
  console.log(formatManifest(manifest));
} catch (error) {
  process.stderr.write("\n");
  console.error(error.message);
  process.exitCode = error.status === 422 ? 3 : 1;
}
