// Test services and fixtures: real database, real audit writer, real offline model; a logger
// that keeps lines so tests can check what was logged.
import { randomBytes } from "node:crypto";
import { BlockList } from "node:net";
import { sql } from "drizzle-orm";
import { afterEach, beforeEach } from "vitest";
import { auditLog, type DatabaseHandle } from "../../db/index.ts";
import { generateSigningKeyText, parseSigningKey } from "../../server/audit/signing.ts";
import { localOperator } from "../../server/auth/principal.ts";
import type { Scope } from "../../server/auth/scopes.ts";
import type { ThrottleSettings } from "../../server/auth/throttle.ts";
import type { Config } from "../../server/config.ts";
import { type Clock, createContext, type RequestInfo } from "../../server/context.ts";
import { newCallId, newRequestId } from "../../server/ids.ts";
import { createKey } from "../../server/keys/mint.ts";
import { createLogger } from "../../server/logger.ts";
import type { ModelProvider } from "../../server/model/provider.ts";
import { appRouter } from "../../server/routers/app.ts";
import { openServices, type RunningServices } from "../../server/services.ts";
import { createCallerFactory } from "../../server/trpc.ts";
import { resetDatabase, workerDatabase } from "./database.ts";

export function testConfig(overrides: Partial<Config> = {}): Config {
  return {
    port: 0,
    host: "127.0.0.1",
    database: { kind: "pglite", dataDir: "memory" },
    dataDir: "/nonexistent",
    peppers: [{ version: 1, key: randomBytes(32) }],
    auditKey: [{ version: 1, key: randomBytes(32) }],
    audit: testAuditConfig(),
    model: {
      provider: "offline",
      timeoutMs: 5000,
      name: "offline",
      openaiApiKey: undefined,
      openaiBaseUrl: undefined,
    },
    paymentApiUrl: undefined,
    trustedProxies: new BlockList(),
    corsOrigins: [],
    isDev: false,
    logLevel: "debug",
    guard: { flag: 0.5, block: 0.8 },
    guardByProcedure: {},
    outputLinkHosts: [],
    ops: { drainTimeoutMs: 5_000, metricsAllow: loopbackOnly(), metricsPort: null },
    ...overrides,
  };
}

function loopbackOnly(): BlockList {
  const list = new BlockList();
  list.addSubnet("127.0.0.1", 32, "ipv4");
  list.addSubnet("::1", 128, "ipv6");
  return list;
}

/** Checkpoints signed with a fresh key; no file sink unless a test gives a directory. */
export function testAuditConfig(overrides: Partial<Config["audit"]> = {}): Config["audit"] {
  const signingKey = parseSigningKey(generateSigningKeyText());
  return {
    dir: null,
    signingKey,
    verifyKeys: [signingKey.publicKey],
    checkpointEvery: 1000,
    checkpointIntervalMs: 60_000,
    minRetentionDays: 30,
    ...overrides,
  };
}

export interface TestServices extends RunningServices {
  logLines: string[];
}

export interface TestServiceOptions {
  config?: Partial<Config>;
  model?: ModelProvider;
  clock?: Clock;
  throttle?: ThrottleSettings;
}

export async function createTestServices(options: TestServiceOptions = {}): Promise<TestServices> {
  const { handle } = await workerDatabase();
  const logLines: string[] = [];
  const services = await openServices(testConfig(options.config), {
    logger: createLogger("debug", (line) => logLines.push(line)),
    localAdminToken: null,
    database: handle,
    model: options.model,
    clock: options.clock,
    throttle: options.throttle,
  });
  return Object.assign(services, { logLines });
}

/** Every secret and plaintext key the fixtures issued, to prove none is ever stored or logged. */
export const issuedSecrets = new Set<string>();

export interface KeyOptions {
  scopes: string[];
  name?: string;
  owner?: string;
  ttlSeconds?: number;
  maxUses?: number;
  rpm?: number;
  dailyTokens?: number;
  env?: "live" | "test";
}

export async function createTestKey(services: RunningServices, options: KeyOptions) {
  const ctx = createContext(services, requestInfo());
  const created = await createKey(ctx, localOperator(), newCallId(), {
    name: options.name ?? "test key",
    // Fixtures may hold any catalog scope; createKey still validates them like the API does.
    scopes: options.scopes as Scope[],
    owner: options.owner ?? "team:test",
    ttlSeconds: options.ttlSeconds,
    maxUses: options.maxUses,
    rpm: options.rpm,
    dailyTokens: options.dailyTokens,
    env: options.env ?? "live",
  });
  rememberIssued(created.key);
  return { keyId: created.keyId, plaintext: created.key };
}

export function rememberIssued(plaintext: string): void {
  issuedSecrets.add(plaintext);
  // The secret part alone must not appear either.
  const secret = plaintext.split("_")[3]?.slice(0, 32);
  if (secret) issuedSecrets.add(secret);
}

export function requestInfo(overrides: Partial<RequestInfo> = {}): RequestInfo {
  return {
    requestId: newRequestId(),
    clientAddress: "203.0.113.7",
    authorization: undefined,
    endUser: undefined,
    ...overrides,
  };
}

const createCaller = createCallerFactory(appRouter);

/** A tRPC caller presenting `key` (or nothing) as an HTTP request would. */
export function callerFor(services: RunningServices, key?: string, overrides: Partial<RequestInfo> = {}) {
  return createCaller(
    createContext(
      services,
      requestInfo({ authorization: key === undefined ? undefined : `Bearer ${key}`, ...overrides }),
    ),
  );
}

const KEY_FORMAT = /sg_(?:live|test)_[0-9A-Za-z]{12}_[0-9A-Za-z]{38}/;

/** Every text cell of every table, to search for leaked secrets. */
export async function dumpAllTables(database: DatabaseHandle): Promise<string> {
  const rows = await database.rows<{ t: string }>(sql`
    select row_to_json(k)::text as t from api_keys k
    union all select row_to_json(a)::text from audit_log a
    union all select row_to_json(d)::text from documents d`);
  return rows.map((r) => r.t).join("\n");
}

/** Finds any issued secret (or anything in our key format) in the tables or the logs. */
export async function findLeaks(services: TestServices): Promise<string[]> {
  const haystacks = [await dumpAllTables(services.database), services.logLines.join("\n")];
  const leaks: string[] = [];
  for (const text of haystacks) {
    if (KEY_FORMAT.test(text)) leaks.push(`key-format match: ${KEY_FORMAT.exec(text)?.[0].slice(0, 20)}…`);
    for (const secret of issuedSecrets)
      if (text.includes(secret)) leaks.push(`issued secret ${secret.slice(0, 8)}…`);
  }
  return leaks;
}

/**
 * Per-test services on a truncated database; after each test, fails if any issued key or
 * secret reached a table or a log line.
 */
export function useTestServices(options: TestServiceOptions | (() => TestServiceOptions) = {}) {
  const state: { services: TestServices | null } = { services: null };
  beforeEach(async () => {
    const { handle } = await workerDatabase();
    await resetDatabase(handle);
    state.services = await createTestServices(typeof options === "function" ? options() : options);
  });
  afterEach(async () => {
    const services = state.services;
    if (!services) return;
    await services.audit.drain();
    const leaks = await findLeaks(services);
    await services.close();
    state.services = null;
    if (leaks.length > 0) throw new Error(`secrets leaked: ${leaks.join("; ")}`);
  });
  return () => {
    if (!state.services) throw new Error("services are created in beforeEach");
    return state.services;
  };
}

export async function auditRows(database: DatabaseHandle) {
  return database.db.select().from(auditLog).orderBy(auditLog.id);
}

export type { DatabaseHandle };
