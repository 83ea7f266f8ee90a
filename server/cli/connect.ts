// Where the CLI acts: a remote server with SCOPEGATE_URL and SCOPEGATE_API_KEY (never root);
// otherwise the running server that holds the embedded database's lock, with its local admin
// token (root, audited as local-cli); otherwise the database itself, opened in-process (root).
import { randomBytes } from "node:crypto";
import { isIPv6 } from "node:net";
import { createTRPCClient, httpBatchLink, type TRPCClient } from "@trpc/client";
import type { Config } from "../config.ts";
import { acquireLock, readLiveLock } from "../data-lock.ts";
import type { Logger } from "../logger.ts";
import type { AppRouter } from "../routers/app.ts";

export interface CliConnection {
  api: TRPCClient<AppRouter>;
  mode: "remote" | "local-server" | "direct";
  close(): Promise<void>;
}

function httpClient(url: string, bearer: string): TRPCClient<AppRouter> {
  return createTRPCClient<AppRouter>({
    links: [
      httpBatchLink({
        url: `${url.replace(/\/+$/, "")}/trpc`,
        headers: { authorization: `Bearer ${bearer}` },
      }),
    ],
  });
}

/**
 * `asKey` acts with that API key instead of as root (e.g. `keys derive`): through the remote or
 * local server when there is one, else in-process, but always authenticated as the key.
 */
export async function connect(
  env: Record<string, string | undefined>,
  config: Config,
  logger: Logger,
  asKey?: string,
): Promise<CliConnection> {
  const remoteUrl = env.SCOPEGATE_URL;
  if (remoteUrl) {
    // A command acting as a given key needs only the URL: that key is its credential.
    const bearer = asKey ?? env.SCOPEGATE_API_KEY;
    if (!bearer) throw new Error("SCOPEGATE_URL is set: set SCOPEGATE_API_KEY too, or neither");
    return { api: httpClient(remoteUrl, bearer), mode: "remote", close: async () => {} };
  }
  // A key with no URL most likely meant a remote server: never act as root by mistake.
  if (env.SCOPEGATE_API_KEY && asKey === undefined) {
    throw new Error("SCOPEGATE_API_KEY is set: set SCOPEGATE_URL too, or neither");
  }
  if (config.database.kind === "pglite") {
    const holder = readLiveLock(config.dataDir);
    if (holder?.port && holder.token) {
      return {
        api: httpClient(`http://${localAddress(config.host)}:${holder.port}`, asKey ?? holder.token),
        mode: "local-server",
        close: async () => {},
      };
    }
  }
  return connectDirect(config, logger, asKey);
}

/** Opens the database in this process (holding the embedded data dir's lock while open). */
async function connectDirect(config: Config, logger: Logger, asKey?: string): Promise<CliConnection> {
  const lock = config.database.kind === "pglite" ? acquireLock(config.dataDir) : null;
  try {
    // The server's modules load only here: commands that go through a server stay fast.
    const [{ localLink }, { createContext }, { newRequestId }, { appRouter }, { openServices }] =
      await Promise.all([
        import("@trpc/client"),
        import("../context.ts"),
        import("../ids.ts"),
        import("../routers/app.ts"),
        import("../services.ts"),
      ]);
    const token = `sglocal_${randomBytes(32).toString("base64url")}`;
    const services = await openServices(config, { logger, localAdminToken: token });
    const api = createTRPCClient<AppRouter>({
      links: [
        localLink({
          router: appRouter,
          createContext: async () =>
            createContext(services, {
              requestId: newRequestId(),
              clientAddress: "local",
              authorization: `Bearer ${asKey ?? token}`,
              endUser: undefined,
            }),
        }),
      ],
    });
    return {
      api,
      mode: "direct",
      async close() {
        await services.close();
        lock?.release();
      },
    };
  } catch (error) {
    lock?.release();
    throw error;
  }
}

/** Where a server bound to `host` is reached from this machine: loopback unless bound elsewhere. */
function localAddress(host: string | null): string {
  if (host === null || host === "0.0.0.0" || host === "::") return "127.0.0.1";
  return isIPv6(host) ? `[${host}]` : host;
}
