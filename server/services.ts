// Builds the long-lived services once (database, audit writer, model) for the server or the
// CLI; tests build their own with a shared test database.
import { setMaxListeners } from "node:events";
import { type DatabaseHandle, openMigratedDatabase as openMigrated } from "../db/index.ts";
import { FloodAggregator } from "./audit/flood.ts";
import { createAuditWriter, startAuditDuties } from "./audit/setup.ts";
import { KeyCache, listenForKeyChanges } from "./auth/key-store.ts";
import { AuthThrottle, DEFAULT_THROTTLE, type ThrottleSettings } from "./auth/throttle.ts";
import type { Config } from "./config.ts";
import type { Clock, Services } from "./context.ts";
import { LastUsedBatcher } from "./keys/last-used.ts";
import type { Logger } from "./logger.ts";
import { createModelProvider } from "./model/index.ts";
import type { ModelProvider } from "./model/provider.ts";
import { Metrics } from "./ops/metrics.ts";
import { ShutdownAbort } from "./ops/shutdown.ts";
import { appRouter } from "./routers/app.ts";

/** Unauthenticated refusals recorded one by one per address per minute; the rest are counted. */
export const FLOOD_THRESHOLD_PER_MINUTE = 20;
const FLOOD_FLUSH_INTERVAL_MS = 5_000;

export interface RunningServices extends Services {
  /** Ends the calls still in flight (their final records say `shutdown`). */
  abortInFlight(): void;
  close(): Promise<void>;
}

export interface ServiceOptions {
  logger: Logger;
  localAdminToken: string | null;
  /** An already open database (tests share one); otherwise opened from config and migrated. */
  database?: DatabaseHandle;
  model?: ModelProvider;
  clock?: Clock;
  throttle?: ThrottleSettings;
}

export async function openServices(config: Config, options: ServiceOptions): Promise<RunningServices> {
  const model = options.model ?? createModelProvider(config);
  const database = options.database ?? (await openMigratedDatabase(config));
  const clock = options.clock ?? { now: () => new Date() };
  const audit = createAuditWriter(database, config, options.logger, () => clock.now());
  const auditDuties = startAuditDuties(audit, config, options.logger);
  const flood = new FloodAggregator(FLOOD_THRESHOLD_PER_MINUTE, () => clock.now().getTime());
  const keyCache = new KeyCache();
  const metrics = new Metrics({
    auditQueueDepth: () => audit.queueDepth,
    keyCache: () => ({ hits: keyCache.hits, misses: keyCache.misses }),
    procedures: Object.keys(appRouter._def.procedures),
  });
  const shutdown = new AbortController();
  // Every call in flight listens for it (server/abort.ts): not a leak, so no listener warning.
  setMaxListeners(0, shutdown.signal);
  const stopListening = await listenForKeyChanges(database, keyCache).catch(async (error: unknown) => {
    // A connection left open would keep a failed CLI command's process alive: never a hang.
    if (!options.database) await database.close().catch(() => {});
    throw error;
  });
  const authThrottle = new AuthThrottle(options.throttle ?? DEFAULT_THROTTLE, () => clock.now().getTime());
  const flushAggregates = async (all: boolean) => {
    const due = flood.takeDue(all);
    // Counted refusals reached callers too: if the database is down they wait in the spool.
    if (due.length > 0) await audit.appendOrSpool(due);
  };
  const lastUsed = new LastUsedBatcher(database.db);
  const timer = setInterval(() => {
    flushAggregates(false).catch((error: unknown) =>
      options.logger.error("flood aggregate write failed", { error }),
    );
    lastUsed.flush().catch((error: unknown) => options.logger.warn("last_used_at flush failed", { error }));
  }, FLOOD_FLUSH_INTERVAL_MS);
  timer.unref();
  return {
    config,
    database,
    audit,
    flood,
    keyCache,
    metrics,
    shutdown: shutdown.signal,
    abortInFlight: () => shutdown.abort(new ShutdownAbort()),
    lastUsed,
    authThrottle,
    model,
    clock,
    logger: options.logger,
    localAdminToken: options.localAdminToken,
    async close() {
      clearInterval(timer);
      await lastUsed
        .flush()
        .catch((error: unknown) => options.logger.warn("last_used_at flush failed", { error }));
      await stopListening().catch((error: unknown) => options.logger.warn("unlisten failed", { error }));
      await flushAggregates(true).catch((error: unknown) =>
        options.logger.error("flood aggregate write failed", { error }),
      );
      await audit.drain();
      await auditDuties.stop();
      if (!options.database) await database.close();
    },
  };
}

/** The configured database, connected and migrated (or a named reason why it cannot be). */
export function openMigratedDatabase(config: Config): Promise<DatabaseHandle> {
  // Config.database is already a DatabaseTarget.
  return openMigrated(config.database);
}
