// A TCP proxy in front of the test Postgres that a test can cut (every open connection is
// destroyed and new ones are refused) and restore on the same port: a database outage on demand.
import { connect, createServer, type Server, type Socket } from "node:net";

export class TcpProxy {
  private readonly sockets = new Set<Socket>();
  private server: Server | null = null;
  private port = 0;
  private stalled = false;

  private constructor(
    private readonly targetHost: string,
    private readonly targetPort: number,
  ) {}

  /** Starts forwarding 127.0.0.1:<random port> to the host and port of `url`. */
  static async start(url: string): Promise<TcpProxy> {
    const target = new URL(url);
    const proxy = new TcpProxy(target.hostname, Number(target.port || 5432));
    await proxy.listen();
    return proxy;
  }

  /** `url` with its host and port pointed at this proxy. */
  through(url: string): string {
    const proxied = new URL(url);
    proxied.hostname = "127.0.0.1";
    proxied.port = String(this.port);
    return proxied.toString();
  }

  get isCut(): boolean {
    return this.server === null;
  }

  /** The database becomes unreachable: open connections die, new ones are refused. */
  async cut(): Promise<void> {
    const server = this.server;
    this.server = null;
    for (const socket of this.sockets) socket.destroy();
    this.sockets.clear();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /**
   * The database stops answering without closing anything (a partition, a hung server): open
   * connections forward nothing more, new ones are accepted and left hanging.
   */
  stall(): void {
    this.stalled = true;
    for (const socket of this.sockets) socket.unpipe().pause();
  }

  /** Listens again on the same port. */
  async restore(): Promise<void> {
    if (this.stalled) {
      // Stalled connections lost their place in the protocol: they die, new ones work.
      this.stalled = false;
      for (const socket of this.sockets) socket.destroy();
    }
    if (!this.server) await this.listen();
  }

  close(): Promise<void> {
    return this.cut();
  }

  private listen(): Promise<void> {
    const server = createServer((client) => {
      if (this.stalled) {
        this.sockets.add(client);
        client.on("error", () => {});
        client.on("close", () => this.sockets.delete(client));
        return;
      }
      const upstream = connect(this.targetPort, this.targetHost);
      for (const socket of [client, upstream]) {
        this.sockets.add(socket);
        // One end gone (a cut, or an error, which is the point of the exercise) ends both.
        socket.on("error", () => {});
        socket.on("close", () => {
          this.sockets.delete(socket);
          client.destroy();
          upstream.destroy();
        });
      }
      client.pipe(upstream);
      upstream.pipe(client);
    });
    return new Promise((resolve, reject) => {
      server.once("error", reject);
      server.listen(this.port, "127.0.0.1", () => {
        const address = server.address();
        if (address && typeof address === "object") this.port = address.port;
        this.server = server;
        resolve();
      });
    });
  }
}
