// tRPC context. The inner part (services) is built once by main and directly by tests; the
// per-request part comes from the HTTP layer (or the CLI's in-process link).
import type { DatabaseHandle } from "../db/index.ts";
import type { FloodAggregator } from "./audit/flood.ts";
import type { AuditWriter } from "./audit/writer.ts";
import type { KeyCache } from "./auth/key-store.ts";
import type { AuthThrottle } from "./auth/throttle.ts";
import type { Config } from "./config.ts";
import type { LastUsedBatcher } from "./keys/last-used.ts";
import type { Logger } from "./logger.ts";
import type { ModelProvider } from "./model/provider.ts";
import type { Metrics } from "./ops/metrics.ts";

export interface Clock {
  now(): Date;
}

export interface Services {
  config: Config;
  database: DatabaseHandle;
  audit: AuditWriter;
  flood: FloodAggregator;
  keyCache: KeyCache;
  metrics: Metrics;
  /** Aborted when a draining server gives up on its in-flight calls (they end with `shutdown`). */
  shutdown: AbortSignal;
  lastUsed: LastUsedBatcher;
  authThrottle: AuthThrottle;
  model: ModelProvider;
  clock: Clock;
  logger: Logger;
  /** Bearer token of the local operator (CLI with access to the data dir); root. */
  localAdminToken: string | null;
}

export interface RequestInfo {
  requestId: string;
  clientAddress: string;
  /** The raw Authorization header, never logged. */
  authorization: string | undefined;
  endUser: string | undefined;
}

export interface Context extends Services {
  request: RequestInfo;
}

export function createContext(services: Services, request: RequestInfo): Context {
  return { ...services, request };
}
