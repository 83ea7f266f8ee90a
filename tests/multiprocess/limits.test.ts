// Two `scopegate serve` processes sharing one Postgres: limits never overshoot, and
// revocation reaches the other process within one second, even when its listening
// connection is killed. Needs a real Postgres (DATABASE_URL).
import postgres from "postgres";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createDatabase } from "../../db/index.ts";
import { parseVersionedSecret } from "../../server/config.ts";
import { createLogger } from "../../server/logger.ts";
import { openServices, type RunningServices } from "../../server/services.ts";
import { createScratchDatabase, dropDatabase, testDatabaseUrl } from "../helpers/database.ts";
import { type ServeProcess, sharedSecrets, startServeProcess } from "../helpers/serve-process.ts";
import { createTestKey, type KeyOptions, testConfig } from "../helpers/services.ts";
import { otherDatabase } from "../helpers/skip.ts";

const baseUrl = testDatabaseUrl();

interface CallResult {
  status: number;
  reason: string | null;
}

async function summarize(server: ServeProcess, key: string): Promise<CallResult> {
  const response = await fetch(`${server.url}/trpc/summarizeDoc`, {
    method: "POST",
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
    body: JSON.stringify({ text: "Two processes, one limit. Exactly." }),
  });
  const body = (await response.json()) as { error?: { data?: { reason?: string } } };
  return { status: response.status, reason: body.error?.data?.reason ?? null };
}

async function adminCall(server: ServeProcess, key: string, path: string, input: unknown) {
  const response = await fetch(`${server.url}/trpc/${path}`, {
    method: "POST",
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
    body: JSON.stringify(input),
  });
  expect(response.status).toBe(200);
  return ((await response.json()) as { result: { data: Record<string, unknown> } }).result.data;
}

const keyIdOf = (plaintext: string) => plaintext.split("_")[2] ?? "";

/** Polls until `summarize` through `server` is refused; returns how long that took. */
async function msUntilRefused(server: ServeProcess, key: string, reason: string): Promise<number> {
  const start = performance.now();
  while (performance.now() - start < 5_000) {
    const result = await summarize(server, key);
    if (result.status === 401 && result.reason === reason) return performance.now() - start;
  }
  return Number.POSITIVE_INFINITY;
}

describe.skipIf(otherDatabase("postgres"))("two server processes on one Postgres", () => {
  let databaseUrl = "";
  let sql: postgres.Sql;
  let a: ServeProcess;
  let b: ServeProcess;
  let root: RunningServices;
  let admin = "";

  /** Keys are minted in-process as the local operator, with the processes' own pepper. */
  const mint = async (options: KeyOptions) => (await createTestKey(root, options)).plaintext;

  beforeAll(async () => {
    databaseUrl = await createScratchDatabase(baseUrl as string);
    const secrets = sharedSecrets();
    const env = { DATABASE_URL: databaseUrl, ...secrets };
    a = await startServeProcess(env);
    b = await startServeProcess(env);
    sql = postgres(databaseUrl, { max: 1, onnotice: () => {} });
    const config = testConfig({
      peppers: parseVersionedSecret("SCOPEGATE_PEPPER", secrets.SCOPEGATE_PEPPER ?? ""),
      auditKey: parseVersionedSecret("SCOPEGATE_AUDIT_KEY", secrets.SCOPEGATE_AUDIT_KEY ?? ""),
    });
    root = await openServices(config, {
      logger: createLogger("silent"),
      localAdminToken: null,
      database: await createDatabase({ kind: "postgres", url: databaseUrl, maxConnections: 2 }),
    });
    admin = await mint({ scopes: ["admin:keys", "endpoint:summarize-doc", "keys:derive"] });
  }, 90_000);

  afterAll(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
    await root?.close();
    await root?.database.close();
    await sql?.end();
    if (databaseUrl) await dropDatabase(baseUrl as string, databaseUrl);
  });

  it("admits exactly rpm calls out of 100 concurrent ones spread over both processes", async () => {
    const key = await mint({ scopes: ["endpoint:summarize-doc"], rpm: 20 });
    const results = await Promise.all(Array.from({ length: 100 }, (_, i) => summarize(i % 2 ? a : b, key)));
    const ok = results.filter((r) => r.status === 200).length;
    // One more only if the bucket refills (one slot every 3 s at 20 rpm) during the burst.
    expect(ok).toBeGreaterThanOrEqual(20);
    expect(ok).toBeLessThanOrEqual(21);
    expect(results.filter((r) => r.status === 429 && r.reason === "rate_limited")).toHaveLength(100 - ok);
    const [limits] = await sql`select uses from key_limits where id = ${keyIdOf(key)}`;
    expect(Number(limits?.uses)).toBe(ok);
    const [admitted] =
      await sql`select count(*)::int as n from audit_log where phase = 'admitted' and key_id = ${keyIdOf(key)}`;
    expect(admitted?.n).toBe(ok);
  });

  it("never overshoots the daily token budget by more than one in-flight reservation", async () => {
    const budget = 5_000;
    const key = await mint({ scopes: ["endpoint:summarize-doc"], dailyTokens: budget });
    const results = await Promise.all(Array.from({ length: 40 }, (_, i) => summarize(i % 2 ? a : b, key)));
    const ok = results.filter((r) => r.status === 200).length;
    expect(ok).toBeGreaterThan(0);
    expect(results.filter((r) => r.status === 429 && r.reason === "budget_exhausted")).toHaveLength(40 - ok);
    const [row] = await sql`select tokens_used from key_limits where id = ${keyIdOf(key)}`;
    const settled = Number(row?.tokens_used);
    // Reservations are checked against the budget before the call; settlement only lowers
    // them here (the offline model uses fewer tokens than the output cap reserves).
    expect(settled).toBeLessThanOrEqual(budget);
    const [usage] =
      await sql`select coalesce(sum(input_tokens + output_tokens), 0)::int as n from audit_log where phase = 'final' and key_id = ${keyIdOf(key)}`;
    expect(usage?.n).toBe(settled);
  });

  it("binds a derived child by its parent's limit across processes", async () => {
    const parent = await mint({ scopes: ["keys:derive", "endpoint:summarize-doc"], rpm: 10 });
    const child = (await adminCall(a, parent, "keys.derive", { scopes: ["endpoint:summarize-doc"] }))
      .key as string;
    // The derive call took one of the parent's ten slots.
    const results = await Promise.all(Array.from({ length: 30 }, (_, i) => summarize(i % 2 ? a : b, child)));
    const ok = results.filter((r) => r.status === 200).length;
    expect(ok).toBeGreaterThanOrEqual(9);
    expect(ok).toBeLessThanOrEqual(10);
    const [parentRow] = await sql`select uses from key_limits where id = ${keyIdOf(parent)}`;
    expect(Number(parentRow?.uses)).toBe(ok + 1);
  });

  it("a key revoked through process A is refused by process B within one second", async () => {
    const key = await mint({ scopes: ["endpoint:summarize-doc"] });
    expect((await summarize(b, key)).status).toBe(200);
    await adminCall(a, admin, "keys.revoke", { keyId: keyIdOf(key) });
    expect(await msUntilRefused(b, key, "revoked_key")).toBeLessThan(1_000);
  });

  it("a revoked parent disables its child on the other process within one second", async () => {
    const parent = await mint({ scopes: ["keys:derive", "endpoint:summarize-doc"] });
    const child = (await adminCall(a, parent, "keys.derive", { scopes: ["endpoint:summarize-doc"] }))
      .key as string;
    expect((await summarize(b, child)).status).toBe(200);
    await adminCall(a, admin, "keys.revoke", { keyId: keyIdOf(parent) });
    expect(await msUntilRefused(b, child, "revoked_key")).toBeLessThan(1_000);
  });

  it("holds the bound when the listening connections are killed", async () => {
    const key = await mint({ scopes: ["endpoint:summarize-doc"] });
    expect((await summarize(b, key)).status).toBe(200);
    const killed = await sql`
      select pg_terminate_backend(pid) as ok from pg_stat_activity
      where datname = current_database() and query ilike 'listen%' and pid <> pg_backend_pid()`;
    expect(killed.length).toBeGreaterThanOrEqual(2);
    await adminCall(a, admin, "keys.revoke", { keyId: keyIdOf(key) });
    expect(await msUntilRefused(b, key, "revoked_key")).toBeLessThan(1_000);
  });
});
