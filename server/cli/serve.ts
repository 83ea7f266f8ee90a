// `scopegate serve`: opens the database (holding the embedded data dir's lock), migrates or waits
// for the owner to, listens on HOST, writes the demo key in embedded mode, and shuts down cleanly.
import { randomBytes } from "node:crypto";
import { chmodSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { type DatabaseHandle, openDatabase } from "../../db/index.ts";
import { localOperator } from "../auth/principal.ts";
import type { Scope } from "../auth/scopes.ts";
import type { Config } from "../config.ts";
import { createContext } from "../context.ts";
import { acquireLock } from "../data-lock.ts";
import { seedDemo } from "../documents/demo-seed.ts";
import { createDemoPage } from "../http/demo-page.ts";
import { serveMetrics } from "../http/ops-routes.ts";
import { createHttpServer } from "../http/server.ts";
import { newCallId, newRequestId } from "../ids.ts";
import { createKey } from "../keys/mint.ts";
import type { Logger } from "../logger.ts";
import { installDriverCrashGuard } from "../ops/driver-guard.ts";
import { listen } from "../ops/listen.ts";
import { waitForMigrations } from "../ops/migration-wait.ts";
import { InFlight } from "../ops/shutdown.ts";
import { openServices, type RunningServices } from "../services.ts";

const DEMO_KEY_TTL_SECONDS = 60 * 60;
// After the drain timeout, how long ended calls get to write their final records.
const SHUTDOWN_GRACE_MS = 5_000;
export const DEMO_KEY_SCOPES: Scope[] = [
  "endpoint:summarize-doc",
  "endpoint:chat",
  "prompt-processing",
  "db:demo",
];

export interface RunningServer {
  port: number;
  server: Server;
  services: RunningServices;
  stop(): Promise<void>;
}

/**
 * Starts serving. A database the owner has not migrated yet (this role may not) is waited for
 * with /readyz answering 503 `migrations_pending`; a database that cannot be reached or entered
 * fails start-up with the reason (db/connection-errors.ts), never a hang.
 */
export async function serve(
  config: Config,
  logger: Logger,
  requestedPort = config.port,
): Promise<RunningServer> {
  const lock = config.database.kind === "pglite" ? acquireLock(config.dataDir) : null;
  const removeCrashGuard = config.database.kind === "postgres" ? installDriverCrashGuard(logger) : () => {};
  let database: DatabaseHandle | undefined;
  let services: RunningServices | undefined;
  try {
    const opened = await openDatabase(config.database);
    database = opened.handle;
    const port =
      opened.pending > 0
        ? (
            await waitForMigrations(database, {
              port: requestedPort,
              host: config.host,
              pending: opened.pending,
              logger,
            })
          ).port
        : requestedPort;
    const localAdminToken = lock ? `sglocal_${randomBytes(32).toString("base64url")}` : null;
    services = await openServices(config, { logger, localAdminToken, database });
    const demoPage = await createDemoPage(services, {
      demoKeyPath: lock ? join(config.dataDir, "demo-key") : null,
    });
    const inFlight = new InFlight();
    const server = createHttpServer(services, { extraRoutes: demoPage.handle, inFlight });
    await listen(server, port, config.host);
    const running = services;
    const openDb = database;
    const metricsServer = config.ops.metricsPort === null ? null : createMetricsServer(running);
    if (metricsServer) await listen(metricsServer, config.ops.metricsPort ?? 0, config.host);
    const bound = server.address() as AddressInfo;
    const actualPort = bound.port;
    if (lock && localAdminToken) lock.publish(actualPort, localAdminToken);
    let stopping: Promise<void> | null = null;
    const stop = () => {
      stopping ??= drainAndClose({ server, metricsServer, inFlight, services: running, logger })
        .then(() => openDb.close())
        .finally(() => {
          lock?.release();
          removeCrashGuard();
        });
      return stopping;
    };
    if (lock) await seedDemo(running);
    if (lock) await writeDemoKey(running, config.dataDir, logger);
    logger.info("listening", {
      address: bound.address,
      port: actualPort,
      database: config.database.kind,
      model: config.model.provider,
    });
    return { port: actualPort, server, services: running, stop };
  } catch (error) {
    await services?.close();
    await database?.close();
    lock?.release();
    removeCrashGuard();
    throw error;
  }
}

function createMetricsServer(services: RunningServices): Server {
  return createServer((req, res) => {
    const path = new URL(req.url ?? "/", "http://localhost").pathname;
    if (path === "/metrics") {
      serveMetrics(services, req, res).catch(() => res.destroy());
      return;
    }
    res.writeHead(404).end();
  });
}

/**
 * Graceful shutdown: stop accepting connections, let in-flight calls (streams included) finish
 * within the drain timeout, end the rest with a `shutdown` final record, then flush pending
 * writes (audit, last_used_at, checkpoints) and close the database.
 */
async function drainAndClose(parts: {
  server: Server;
  metricsServer: Server | null;
  inFlight: InFlight;
  services: RunningServices;
  logger: Logger;
}): Promise<void> {
  const { server, metricsServer, inFlight, services, logger } = parts;
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeIdleConnections();
  logger.info("draining", { inFlight: inFlight.size, timeoutMs: services.config.ops.drainTimeoutMs });
  if (!(await inFlight.idle(services.config.ops.drainTimeoutMs))) {
    logger.warn("drain timeout: ending calls still in flight", { inFlight: inFlight.size });
    services.abortInFlight();
    // Ended calls still commit their final records before they answer.
    await inFlight.idle(SHUTDOWN_GRACE_MS);
  }
  server.closeAllConnections();
  await closed;
  if (metricsServer) await new Promise<void>((resolve) => metricsServer.close(() => resolve()));
  await services.close();
  logger.info("stopped");
}

/** A short-lived `test` key for the demo page; only its path is printed, never the key. */
async function writeDemoKey(services: RunningServices, dataDir: string, logger: Logger): Promise<void> {
  const ctx = createContext(services, {
    requestId: newRequestId(),
    clientAddress: "local",
    authorization: undefined,
    endUser: undefined,
  });
  const created = await createKey(ctx, localOperator(), newCallId(), {
    name: "demo",
    scopes: DEMO_KEY_SCOPES,
    owner: "demo",
    ttlSeconds: DEMO_KEY_TTL_SECONDS,
    env: "test",
  });
  const path = join(dataDir, "demo-key");
  writeFileSync(path, `${created.key}\n`, { mode: 0o600 });
  chmodSync(path, 0o600);
  logger.info("demo key written", { path, keyId: created.keyId, expiresAt: created.expiresAt });
}
