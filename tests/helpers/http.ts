// A real HTTP server on port 0 around test services, for SDK, batch and raw HTTP tests.
import type { AddressInfo } from "node:net";
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
