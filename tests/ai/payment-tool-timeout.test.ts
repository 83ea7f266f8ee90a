// The payment tool against a payment server that accepts the request and never answers: the
// call's own abort ends it at once, and without one the tool gives up at its timeout.
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Database } from "../../db/index.ts";
import { localOperator } from "../../server/auth/principal.ts";
import { createLogger } from "../../server/logger.ts";
import { paymentApiTool } from "../../server/tools/payment-api.ts";
import { ToolFailure } from "../../server/tools/tool-failure.ts";

let server: Server;
let baseUrl: string;
let requests = 0;

beforeAll(async () => {
  server = createServer(() => {
    requests += 1; // and never answer
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/v1/`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

const context = (signal: AbortSignal) => ({
  principal: localOperator(),
  db: undefined as unknown as Database, // the payment tool never reads the database
  logger: createLogger("silent"),
  signal,
});

describe("payment tool against a server that never answers", () => {
  it("stops when the call is aborted, with the call's own reason", async () => {
    const call = new AbortController();
    const started = performance.now();
    const pending = paymentApiTool(baseUrl).execute({ paymentId: "pay_1" }, context(call.signal));
    setTimeout(() => call.abort(new Error("client left")), 100);
    await expect(pending).rejects.toThrow("client left");
    expect(performance.now() - started).toBeLessThan(2000);
    expect(requests).toBeGreaterThan(0);
  });

  it("gives up at its 5 s timeout as a tool failure", async () => {
    const started = performance.now();
    const pending = paymentApiTool(baseUrl).execute(
      { paymentId: "pay_2" },
      context(new AbortController().signal),
    );
    await expect(pending).rejects.toBeInstanceOf(ToolFailure);
    await expect(pending).rejects.toThrow("the payment API did not answer");
    const elapsed = performance.now() - started;
    expect(elapsed).toBeGreaterThan(4500);
    expect(elapsed).toBeLessThan(8000);
  }, 15_000);
});
