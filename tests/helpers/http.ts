// A real HTTP server on port 0 around test services, for SDK, batch and raw HTTP tests.
import type { AddressInfo } from "node:net";
import { afterEach, beforeEach } from "vitest";
import { createHttpServer, type HttpServerOptions } from "../../server/http/server.ts";
import type { RunningServices } from "../../server/services.ts";

export interface TestServer {
  url: string;
  close(): Promise<void>;
}

export async function startTestServer(
  services: RunningServices,
  options: HttpServerOptions = {},
): Promise<TestServer> {
  const server = createHttpServer(services, options);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/**
 * A server per test around the test's services (register after `useTestServices`, so the
 * services exist first and the server closes before them).
 */
export function useTestServer(services: () => RunningServices): () => TestServer {
  let server: TestServer | null = null;
  beforeEach(async () => {
    server = await startTestServer(services());
  });
  afterEach(async () => {
    await server?.close();
    server = null;
  });
  return () => {
    if (!server) throw new Error("the test server starts in beforeEach");
    return server;
  };
}
