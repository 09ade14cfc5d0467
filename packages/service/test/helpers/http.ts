import { createReadStream } from "node:fs";
import { stat } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import { basename } from "node:path";

/** Serves files by base name over loopback HTTP; returns the base URL and a close function. */
export async function serveFiles(files: string[]): Promise<{ url: string; close(): Promise<void> }> {
  const byName = new Map(files.map((f) => [basename(f), f]));
  const server: Server = createServer(async (req, res) => {
    const path = byName.get((req.url ?? "").slice(1));
    if (!path) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { "content-type": "application/zip", "content-length": (await stat(path)).size });
    createReadStream(path).pipe(res);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
