// A local TCP port nothing listens on: bound once by us on loopback, then released. Tests use it
// as a closed port (connection refused) or as the port a child process is told to take.
import { createServer } from "node:net";

export async function unusedLocalPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  const { port } = server.address() as { port: number };
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}
