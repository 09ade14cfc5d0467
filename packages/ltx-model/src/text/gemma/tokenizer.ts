import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { A2VError } from "@a2v/errors";
import { Tokenizer } from "@huggingface/tokenizers";

/** Token ids and mask of a batch of prompts, each left-padded to `maxLength`: [B, maxLength]. */
export interface TokenizedPrompts {
  ids: Int32Array;
  mask: Float32Array;
  batch: number;
  maxLength: number;
}

/**
 * Gemma's tokenizer from a model folder (`tokenizer.json` + `tokenizer_config.json`) as LTX uses it:
 * a leading `<bos>` always, truncation to `maxLength` (1024 for LTX-2.3), LEFT padding with the pad
 * token (the eos token when none is set).
 */
export class GemmaPromptTokenizer {
  private constructor(
    private readonly tokenizer: Tokenizer,
    readonly bosId: number,
    readonly padId: number,
    readonly maxLength: number,
  ) {}

  static async fromFolder(dir: string, maxLength = 1024): Promise<GemmaPromptTokenizer> {
    const read = async (name: string) => {
      try {
        return JSON.parse(await readFile(join(dir, name), "utf8")) as Record<string, unknown>;
      } catch (cause) {
        throw new A2VError("gemma_tokenizer_missing", `${join(dir, name)} is missing or not JSON`, {
          status: 422,
          cause,
        });
      }
    };
    const json = await read("tokenizer.json");
    const config = await read("tokenizer_config.json");
    const tokenizer = new Tokenizer(json, config);
    const idOf = (field: string) => {
      const raw = config[field];
      const token = typeof raw === "string" ? raw : (raw as { content?: string } | undefined)?.content;
      return token === undefined ? undefined : tokenizer.token_to_id(token);
    };
    const bos = idOf("bos_token");
    const pad = idOf("pad_token") ?? idOf("eos_token");
    if (bos === undefined || pad === undefined) {
      throw new A2VError(
        "gemma_tokenizer_invalid",
        `${dir}: tokenizer_config.json needs bos_token and pad_token or eos_token`,
        {
          status: 422,
        },
      );
    }
    return new GemmaPromptTokenizer(tokenizer, bos, pad, maxLength);
  }

  /** Ids of one prompt: `<bos>` first, truncated to maxLength, no padding. */
  ids(prompt: string): number[] {
    let ids = this.tokenizer.encode(prompt).ids;
    if (ids[0] !== this.bosId) ids = [this.bosId, ...ids];
    return ids.slice(0, this.maxLength);
  }

  encode(prompts: string[]): TokenizedPrompts {
    const n = this.maxLength;
    const ids = new Int32Array(prompts.length * n).fill(this.padId);
    const mask = new Float32Array(prompts.length * n);
    prompts.forEach((prompt, b) => {
      const tokens = this.ids(prompt);
      ids.set(tokens, b * n + n - tokens.length);
      mask.fill(1, b * n + n - tokens.length, (b + 1) * n);
    });
    return { ids, mask, batch: prompts.length, maxLength: n };
  }
}
