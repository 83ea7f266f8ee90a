// The SSE writer of the OpenAI door respects `res.write` backpressure: with a client that does
// not read, a write stays pending once the socket's buffers are full (nothing more is queued in
// memory), resumes when the client reads, and resolves false when the client leaves.
import { createServer, get, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { describe, expect, it } from "vitest";
import { writeEvent } from "../../server/http/openai/sse.ts";

const CHUNK = `data: ${"x".repeat(64 * 1024)}\n\n`;
const settledWithin = <T>(promise: Promise<T>, ms: number) =>
  Promise.race([
    promise.then((value) => ({ value })),
    new Promise<null>((r) => setTimeout(() => r(null), ms)),
  ]);

async function stalledStream() {
  let serverRes: ServerResponse | null = null;
  const server = createServer();
  const opened = new Promise<void>((resolve) => {
    server.once("request", (_req: IncomingMessage, res: ServerResponse) => {
      serverRes = res;
      res.writeHead(200, { "content-type": "text/event-stream" });
      resolve();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  const { port } = server.address() as AddressInfo;
  let clientRes: IncomingMessage | null = null;
  const request = get(`http://127.0.0.1:${port}/`, (res) => {
    clientRes = res;
    res.pause();
  });
  request.on("error", () => undefined);
  await opened;
  if (!serverRes) throw new Error("no request");
  // Fills the socket until a write has to wait; returns that pending write.
  const res: ServerResponse = serverRes;
  let writes = 0;
  for (;;) {
    writes += 1;
    const write = writeEvent(res, CHUNK);
    if ((await settledWithin(write, 30)) === null)
      return { server, res, write, writes, request, client: () => clientRes };
    if (writes > 2000) throw new Error("the writer never waited: backpressure ignored");
  }
}

describe("writeEvent", () => {
  it("waits while the client does not read, then resumes when it does", async () => {
    const stalled = await stalledStream();
    // Bounded: only what the kernel and Node buffer hold was accepted (far below 2000 × 64 KiB).
    expect(stalled.writes).toBeLessThan(2000);
    expect(await settledWithin(stalled.write, 200)).toBeNull();
    const client = stalled.client();
    client?.on("data", () => undefined);
    client?.resume();
    expect(await stalled.write).toBe(true);
    stalled.res.end();
    stalled.server.close();
  });

  it("resolves false once the client has gone, and writes nothing more", async () => {
    const stalled = await stalledStream();
    stalled.request.destroy();
    expect(await stalled.write).toBe(false);
    expect(await writeEvent(stalled.res, CHUNK)).toBe(false);
    stalled.server.close();
  });
});
