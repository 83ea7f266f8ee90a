// tRPC context. The inner part (services) is built once by main and directly by tests; the
// per-request part comes from the HTTP layer (or the CLI's in-process link).
import type { DatabaseHandle } from "../db/index.ts";
import type { FloodAggregator } from "./audit/flood.ts";
import type { AuditWriter } from "./audit/writer.ts";
import type { KeyCache } from "./auth/key-store.ts";
import type { Principal } from "./auth/principal.ts";
import type { AuthThrottle } from "./auth/throttle.ts";
import type { Config } from "./config.ts";
import type { LastUsedBatcher } from "./keys/last-used.ts";
import type { CallBudget } from "./limits/token-budget.ts";
import type { Logger } from "./logger.ts";
import type { ModelProvider } from "./model/provider.ts";
import type { Metrics } from "./ops/metrics.ts";
import type { CallRecorder } from "./pipeline/call-recorder.ts";

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

// What the pipeline steps add to the context, in their order (server/trpc.ts composes them).
/** After `recordCall`: the call's recorder. */
export interface Recorded {
  call: CallRecorder;
}
/** After `authenticateCaller`: who is calling. */
export interface Authenticated extends Recorded {
  principal: Principal;
}
/** After `admitCall`: the token budget every model round draws on. */
export interface Admitted extends Authenticated {
  budget: CallBudget;
}
export type CallContext = Context & Recorded;
export type AuthorizedContext = Context & Authenticated;
export type AdmittedContext = Context & Admitted;

export function createContext(services: Services, request: RequestInfo): Context {
  return { ...services, request };
}
