// Starts a server listening on a port and bind address, resolving once it listens.
import type { Server } from "node:http";

/** `host` null: every interface (Node's default, IPv6 and IPv4). */
export function listen(server: Server, port: number, host: string | null): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    if (host === null) server.listen(port, () => resolve());
    else server.listen(port, host, () => resolve());
  });
}
