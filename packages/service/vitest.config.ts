import { defineConfig } from "vitest/config";

// Resolve workspace packages to their TypeScript sources ("source" export condition),
// so tests never run against a stale build.
export default defineConfig({
  resolve: { conditions: ["source", "import", "node", "default"] },
  ssr: { resolve: { conditions: ["source", "import", "node", "default"] } },
  test: { testTimeout: 120_000, hookTimeout: 120_000 },
});
