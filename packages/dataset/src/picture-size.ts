import { open } from "node:fs/promises";

export interface PictureSize {
  width: number;
  height: number;
}

/** JPEG start-of-frame markers (C0-CF except DHT C4, JPG C8 and DAC CC) carry the picture size. */
const SOF_MARKERS = new Set([0xc0, 0xc1, 0xc2, 0xc3, 0xc5, 0xc6, 0xc7, 0xc9, 0xca, 0xcb, 0xcd, 0xce, 0xcf]);
/** Most marker segments walked before giving up (a JPEG has a handful before its SOF). */
const MAX_JPEG_SEGMENTS = 256;

/**
 * The size a PNG (IHDR) or JPEG (SOF) header declares, read without decoding anything, so a
 * 16000x16000 picture can be refused before a decoder allocates it. Undefined when the file does not
 * start with the format's signature or its header is malformed.
 */
export async function pictureSize(file: string, format: "png" | "jpeg"): Promise<PictureSize | undefined> {
  const handle = await open(file, "r");
  try {
    const read = async (position: number, length: number): Promise<Buffer | undefined> => {
      const buffer = Buffer.alloc(length);
      const { bytesRead } = await handle.read(buffer, 0, length, position);
      return bytesRead === length ? buffer : undefined;
    };
    if (format === "png") {
      const head = await read(0, 24);
      if (head?.readUInt32BE(0) !== 0x89504e47 || head.readUInt32BE(4) !== 0x0d0a1a0a) return undefined;
      if (head.toString("latin1", 12, 16) !== "IHDR") return undefined;
      return { width: head.readUInt32BE(16), height: head.readUInt32BE(20) };
    }
    const soi = await read(0, 2);
    if (soi?.[0] !== 0xff || soi[1] !== 0xd8) return undefined;
    let position = 2;
    for (let i = 0; i < MAX_JPEG_SEGMENTS; i++) {
      const marker = await read(position, 4);
      if (marker?.[0] !== 0xff) return undefined;
      const type = marker[1]!;
      if (type === 0xff) {
        position += 1; // fill byte
        continue;
      }
      const length = marker.readUInt16BE(2);
      if (SOF_MARKERS.has(type)) {
        const frame = await read(position + 4, 5);
        return frame ? { width: frame.readUInt16BE(3), height: frame.readUInt16BE(1) } : undefined;
      }
      if (type === 0xd9 || type === 0xda || length < 2) return undefined;
      position += 2 + length;
    }
    return undefined;
  } finally {
    await handle.close();
  }
}
