import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { A2VError, runCli } from "../src/index.js";
import { MAX_PROMPT_CHARS, parseInputJson, parseTrainInput } from "../src/input.js";

function rejection(fn: () => unknown): A2VError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(A2VError);
    return error as A2VError;
  }
  throw new Error("expected a rejection");
}

const url = "https://example.com/a2v_groups.zip";

describe("hostile training inputs", () => {
  it("a request file with a UTF-8 byte-order mark is read; broken JSON is invalid_input", () => {
    expect(parseInputJson(`\ufeff{"training_data_url":"${url}"}`)).toEqual({ training_data_url: url });
    const broken = rejection(() => parseInputJson("{", "req.json"));
    expect(broken.code).toBe("invalid_input");
    expect(broken.status).toBe(422);
    expect(broken.message).toMatch(/^req\.json: not readable JSON/);
  });

  it("a2v input reads a request file saved with a BOM", async () => {
    const dir = await mkdtemp(join(tmpdir(), "a2v-input-bom-"));
    try {
      const file = join(dir, "req.json");
      await writeFile(file, `\ufeff{"training_data_url":"${url}"}`);
      const out: string[] = [];
      expect(await runCli(["input", file, "--json"], { stdout: (s) => out.push(s), stderr: () => {} })).toBe(0);
      expect(JSON.parse(out.join(""))).toMatchObject({ training_data_url: url, rank: 32 });
      await writeFile(file, `{"training_data_url":" ${url}"}`);
      const rejected: string[] = [];
      expect(await runCli(["input", file, "--json"], { stdout: (s) => rejected.push(s), stderr: () => {} })).toBe(3);
      expect(JSON.parse(rejected.join(""))).toMatchObject({ code: "invalid_input" });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("a training_data_url with surrounding whitespace is refused with a code", () => {
    for (const bad of [` ${url}`, `${url}\n`, "\t"]) {
      const error = rejection(() => parseTrainInput({ training_data_url: bad }));
      expect(error.code).toBe("invalid_input");
      expect(error.details[0]).toMatchObject({ code: "invalid_format", path: ["training_data_url"] });
    }
  });

  it("prompts of megabytes and oversized trigger phrases and URLs are too_big", () => {
    const huge = "a".repeat(1024 * 1024);
    const error = rejection(() =>
      parseTrainInput({
        training_data_url: url,
        trigger_phrase: huge,
        validation_negative_prompt: huge,
        validation: [{ prompt: huge, image_url: `https://x/${huge}`, audio_url: "https://x/a.wav" }],
      }),
    );
    expect(error.details.map((d) => [d.code, d.path?.join(".")])).toEqual([
      ["too_big", "trigger_phrase"],
      ["too_big", "validation.0.prompt"],
      ["too_big", "validation.0.image_url"],
      ["too_big", "validation_negative_prompt"],
    ]);
    expect(() =>
      parseTrainInput({ training_data_url: url, validation_negative_prompt: "a".repeat(MAX_PROMPT_CHARS) }),
    ).not.toThrow();
  });
});
