import { A2VError } from "@a2v/errors";
import type { AspectRatio, Resolution } from "./input.js";

export interface Bucket {
  width: number;
  height: number;
}

/** The service's resolution table (width × height); every side is a multiple of 32 (the VAE's stride). */
const BUCKETS: Record<Resolution, Record<AspectRatio, Bucket>> = {
  low: { "16:9": { width: 512, height: 288 }, "1:1": { width: 512, height: 512 }, "9:16": { width: 288, height: 512 } },
  medium: {
    "16:9": { width: 768, height: 448 },
    "1:1": { width: 768, height: 768 },
    "9:16": { width: 448, height: 768 },
  },
  high: {
    "16:9": { width: 960, height: 544 },
    "1:1": { width: 960, height: 960 },
    "9:16": { width: 544, height: 960 },
  },
};

/** The training (or validation) frame size for a resolution and aspect ratio. */
export function resolutionFor(resolution: Resolution, aspectRatio: AspectRatio): Bucket {
  const bucket = BUCKETS[resolution]?.[aspectRatio];
  if (!bucket) {
    throw new A2VError("unknown_bucket", `unknown bucket ${resolution} ${aspectRatio}`, {
      status: 422,
      details: [{ code: "unknown_bucket", path: ["resolution"], message: `no ${resolution} ${aspectRatio} bucket` }],
    });
  }
  return { ...bucket };
}
