import { readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

// Every error that can reach a user is an A2VError with a code (README: "Codes"). A plain `new Error(...)`
// surfaces as `internal` with no rule named, so sources may not construct one, except where listed with a reason.
const packages = fileURLToPath(new URL("../../", import.meta.url));
const PLAIN = /\bnew (Error|TypeError|RangeError|SyntaxError)\(|\bextends (Error|TypeError|RangeError)\b/;

/** `package/src/file.ts` → why its plain error never reaches a user as such. */
const ALLOWED: Record<string, string> = {
  "errors/src/error.ts": "A2VError itself extends Error",
  "dataset/src/download.ts":
    "DownloadStop is an internal abort reason; describe() turns it into the message of a download_failed A2VError",
};

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sources(path);
    return entry.name.endsWith(".ts") && !entry.name.endsWith(".d.ts") ? [path] : [];
  });
}

describe("no plain errors in packages/*/src", () => {
  it("every thrown or rejected error is an A2VError (allow-list: each entry gives its reason)", () => {
    const found: string[] = [];
    const allowedSeen = new Set<string>();
    for (const pkg of readdirSync(packages, { withFileTypes: true })) {
      if (!pkg.isDirectory()) continue;
      const src = join(packages, pkg.name, "src");
      let files: string[];
      try {
        files = sources(src);
      } catch {
        continue;
      }
      for (const file of files) {
        const name = relative(packages, file);
        readFileSync(file, "utf8")
          .split("\n")
          .forEach((line, i) => {
            const code = line.trim();
            if (code.startsWith("//") || code.startsWith("*") || code.startsWith("/*") || !PLAIN.test(code)) return;
            if (ALLOWED[name]) allowedSeen.add(name);
            else found.push(`${name}:${i + 1}: ${code}`);
          });
      }
    }
    expect(found, "throw an A2VError with a documented code (packages/errors/README.md) instead").toEqual([]);
    // An entry whose file no longer has a plain error is stale: drop it.
    expect([...allowedSeen].sort()).toEqual(Object.keys(ALLOWED).sort());
  });
});
