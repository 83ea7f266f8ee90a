// The /trpc door on tRPC's node-http adapter: a request tRPC refuses before it makes a context
// still carries its request id and is recorded once; a stream written through the response
// gate follows `res.write` backpressure (a client that does not read stops the procedure's
// generator; it resumes when the client reads).
import { createServer, type IncomingMessage, request, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { initTRPC } from "@trpc/server";
import { nodeHTTPRequestHandler } from "@trpc/server/adapters/node-http";
import { describe, expect, it } from "vitest";
import { ResponseGate } from "../../server/http/response-gate.ts";
import { useTestServer } from "../helpers/http.ts";
import { auditRows, createTestKey, useTestServices } from "../helpers/services.ts";
import { bearer, expectErrorResponse, send } from "./http-helpers.ts";

const services = useTestServices();
const testServer = useTestServer(services);

describe("refusals tRPC makes before a context exists", () => {
  it("a batch mixing a query and a mutation: the envelope names the request, one final record", async () => {
    const s = services();
    const key = await createTestKey(s, { scopes: ["endpoint:summarize-doc"] });
    const result = await send(`${testServer().url}/trpc/keys.whoami,summarizeDoc?batch=1`, {
      method: "POST",
      headers: bearer(key.plaintext),
      body: JSON.stringify({ 1: { text: "hello there" } }),
    });
    expectErrorResponse(result, 400, "invalid_input");
    await s.audit.drain();
    const finals = (await auditRows(s.database)).filter(
      (r) => r.requestId === result.headers.get("x-request-id") && r.phase === "final",
    );
    expect(finals.map((r) => [r.outcome, r.reason, r.procedure])).toEqual([
      ["denied", "invalid_input", "keys.whoami,summarizeDoc"],
    ]);
    expect((await auditRows(s.database)).filter((r) => r.phase === "admitted")).toEqual([]);
  });
});

const CHUNK = "x".repeat(64 * 1024);
const TOTAL = 400;

/** A server whose one streamed procedure counts what its generator yielded. */
async function countingStreamServer() {
  const progress = { yielded: 0, finished: false };
  const t = initTRPC.create();
  const router = t.router({
    numbers: t.procedure.mutation(async function* () {
      for (let i = 0; i < TOTAL; i++) {
        progress.yielded += 1;
        yield CHUNK;
      }
      progress.finished = true;
    }),
  });
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const gate = new ResponseGate(res, { holdStreamHead: true, before: async () => {} });
    void nodeHTTPRequestHandler({ req, res: gate.res, path: "numbers", router, createContext: () => ({}) });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  return { server, progress, port: (server.address() as AddressInfo).port };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("streams through the response gate", () => {
  it("stop pulling from the procedure while the client does not read, and finish when it does", async () => {
    const { server, progress, port } = await countingStreamServer();
    try {
      let received = 0;
      const done = new Promise<IncomingMessage>((resolve, reject) => {
        const req = request(
          {
            port,
            host: "127.0.0.1",
            method: "POST",
            path: "/numbers?batch=1",
            headers: { "content-type": "application/json", "trpc-accept": "application/jsonl" },
          },
          (res) => {
            res.pause();
            resolve(res);
          },
        );
        req.on("error", reject);
        req.end("{}");
      });
      const res = await done;
      await sleep(300);
      const stalledAt = progress.yielded;
      await sleep(300);
      // Only what the socket buffers hold was produced (far below all 400 × 64 KiB), and the
      // generator waits.
      expect(progress.yielded).toBe(stalledAt);
      expect(progress.yielded).toBeLessThan(TOTAL / 2);
      res.on("data", (chunk: Buffer) => {
        received += chunk.length;
      });
      res.resume();
      await new Promise((resolve) => res.once("end", resolve));
      expect(progress.finished).toBe(true);
      expect(received).toBeGreaterThan(TOTAL * CHUNK.length);
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });
});
