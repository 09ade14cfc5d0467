import { crc32 } from "node:zlib";
import { printable } from "@a2v/errors";

/** IBM PC code page 437, bytes 0x80-0xFF: what zip tools assume for names without the UTF-8 flag. */
const CP437_HIGH =
  "ÇüéâäàåçêëèïîìÄÅÉæÆôöòûùÿÖÜ¢£¥₧ƒáíóúñÑªº¿⌐¬½¼¡«»░▒▓│┤╡╢╖╕╣║╗╝╜╛┐└┴┬├─┼╞╟╚╔╩╦╠═╬╧╨╤╥╙╘╒╓╫╪┘┌█▄▌▐▀αßΓπΣσµτΦΘΩδ∞φε∩≡±≥≤⌠⌡÷≈°∙·√ⁿ²■\u00a0";

const FLAG_UTF8 = 0x800;
const UNICODE_PATH_EXTRA = 0x7075;
const utf8 = new TextDecoder("utf-8");

/** Decodes CP437 bytes (every byte maps to one character, so different bytes stay different names). */
export function decodeCp437(bytes: Uint8Array): string {
  let text = "";
  for (const byte of bytes) text += byte < 0x80 ? String.fromCharCode(byte) : CP437_HIGH[byte - 0x80];
  return text;
}

/**
 * An entry name as unzip and Python read it: UTF-8 when general-purpose flag bit 11 is set; else the
 * Info-ZIP Unicode Path extra field (0x7075) when its CRC-32 matches the stored name; else CP437.
 * (Decoding every name as UTF-8 turned the CP437 bytes of "Müller" and "Möller" into the same
 * replacement characters: a false duplicate.)
 */
export function decodeEntryName(name: Uint8Array, flags: number, extra: Uint8Array): string {
  if (flags & FLAG_UTF8) return utf8.decode(name);
  const unicode = unicodePathOf(name, extra);
  return unicode ?? decodeCp437(name);
}

function unicodePathOf(name: Uint8Array, extra: Uint8Array): string | undefined {
  const view = Buffer.from(extra.buffer, extra.byteOffset, extra.byteLength);
  for (let at = 0; at + 4 <= view.length; ) {
    const id = view.readUInt16LE(at);
    const size = view.readUInt16LE(at + 2);
    const end = at + 4 + size;
    if (end > view.length) return undefined;
    if (id === UNICODE_PATH_EXTRA && size >= 5 && view[at + 4] === 1) {
      const storedCrc = view.readUInt32LE(at + 5);
      if (storedCrc === crc32(name) >>> 0) return utf8.decode(view.subarray(at + 9, end));
    }
    at = end;
  }
  return undefined;
}

/**
 * Escapes an error's human text (message and each detail's message) with `printable`, in place; with
 * `names`, also the `file` and `group` fields (for a terminal, never for JSON, where names stay exact).
 */
export function printableError<
  E extends { message: string; details: { message: string; file?: string; group?: string }[] },
>(error: E, names = false): E {
  error.message = printable(error.message);
  for (const detail of error.details) {
    detail.message = printable(detail.message);
    if (names && detail.file !== undefined) detail.file = printable(detail.file);
    if (names && detail.group !== undefined) detail.group = printable(detail.group);
  }
  return error;
}
