// Key lookups are coalesced: cache misses that arrive together go to the database as one query,
// each caller still gets only its own key's answer, a failed lookup fails every caller in it
// (closed, `unavailable`, within the database deadline), and a change notified while a lookup
// is in flight keeps its stale answer out of the cache.
import { eq } from "drizzle-orm";
import { afterEach, describe, expect, it, vi } from "vitest";
import { apiKeys, type DatabaseHandle, keyLimits } from "../../db/index.ts";
import { authenticate } from "../../server/auth/authenticate.ts";
import { generateKey } from "../../server/auth/key-format.ts";
import { KeyCache, type LoadKeys, loadKeyRecords } from "../../server/auth/key-store.ts";
import { hashSecret } from "../../server/auth/secret-hash.ts";
import { createContext } from "../../server/context.ts";
import { DATABASE_DEADLINE_MS } from "../../server/db-errors.ts";
import type { RunningServices } from "../../server/services.ts";
import { withProxiedServices } from "../helpers/proxied-services.ts";
import { createTestKey, requestInfo, testConfig, useTestServices } from "../helpers/services.ts";
import { otherDatabase } from "../helpers/skip.ts";

const services = useTestServices();
const SCOPES = ["endpoint:summarize-doc"];

afterEach(() => {
  vi.restoreAllMocks();
});

/**
 * Counts the queries sent through the handle's raw-row method (the key lookup's only way to
 * the database); the queries themselves still run against the real database.
 */
function countQueries(database: DatabaseHandle): { readonly count: number } {
  const spy = vi.spyOn(database, "rows");
  return {
    get count() {
      return spy.mock.calls.length;
    },
  };
}

/**
 * Authenticates every key at once through a cache of its own: the services' cache also hears
 * the fixtures' creation notifications, which land asynchronously and would empty it mid-test.
 */
function authenticateAll(s: RunningServices, cache: KeyCache, keys: string[]) {
  const ctx = (key: string) =>
    createContext({ ...s, keyCache: cache }, requestInfo({ authorization: `Bearer ${key}` }));
  return Promise.all(
    keys.map((key) =>
      authenticate(ctx(key)).then(
        (p) => p,
        (e: unknown) => e,
      ),
    ),
  );
}

const reasonOf = (outcome: unknown) =>
  outcome && typeof outcome === "object" && "reason" in outcome ? outcome.reason : outcome;

/** A key written on the database's own terms (as another process would), optionally derived. */
async function insertKey(s: RunningServices, parentId: string | null = null) {
  const { keyId, plaintext, secret } = generateKey("live");
  const pepper = s.config.peppers[0];
  if (!pepper) throw new Error("no pepper");
  await s.database.db.insert(keyLimits).values({ id: keyId });
  await s.database.db.insert(apiKeys).values({
    id: keyId,
    env: "live",
    secretHash: hashSecret(pepper, secret),
    pepperVersion: pepper.version,
    name: "inserted",
    owner: "team:test",
    scopes: SCOPES,
    limitId: keyId,
    parentId,
    createdBy: "test",
  });
  return { keyId, plaintext };
}

describe("coalesced key lookups", () => {
  it("send concurrent misses for many keys, the same key among them, as one query and cache every answer", async () => {
    const s = services();
    const keys = await Promise.all(Array.from({ length: 12 }, () => insertKey(s)));
    const unknown = generateKey("live").plaintext;
    const presented = [...keys.map((k) => k.plaintext), keys[0]?.plaintext ?? "", unknown, unknown];
    const cache = new KeyCache();
    const queries = countQueries(s.database);

    const outcomes = await authenticateAll(s, cache, presented);

    expect(queries.count).toBe(1);
    expect(outcomes.slice(0, 13).map((o) => (o as { keyId: string }).keyId)).toEqual([
      ...keys.map((k) => k.keyId),
      keys[0]?.keyId,
    ]);
    expect(outcomes.slice(13).map(reasonOf)).toEqual(["invalid_key", "invalid_key"]);
    // The answers fed the cache, the unknown id negatively: a second round sends nothing.
    expect(cache.sizes).toEqual({ known: 12, unknown: 1 });
    await authenticateAll(s, cache, presented);
    expect(queries.count).toBe(1);
  });

  it("give each caller its own key's verdict in a mix of valid, revoked, expired, derived, wrong-secret and unknown keys", async () => {
    const s = services();
    const valid = await createTestKey(s, { scopes: SCOPES });
    const revoked = await insertKey(s);
    const expired = await insertKey(s);
    const parent = await insertKey(s);
    const child = await insertKey(s, parent.keyId);
    const childOfRevoked = await insertKey(s, revoked.keyId);
    await s.database.db.update(apiKeys).set({ revokedAt: new Date() }).where(eq(apiKeys.id, revoked.keyId));
    await s.database.db
      .update(apiKeys)
      .set({ expiresAt: new Date(Date.now() - 60_000) })
      .where(eq(apiKeys.id, expired.keyId));
    const wrongSecret = generateKey("live", valid.keyId).plaintext;
    const unknown = generateKey("live").plaintext;
    const cache = new KeyCache();
    const queries = countQueries(s.database);

    const outcomes = await authenticateAll(s, cache, [
      valid.plaintext,
      revoked.plaintext,
      expired.plaintext,
      child.plaintext,
      childOfRevoked.plaintext,
      wrongSecret,
      unknown,
      parent.plaintext,
    ]);

    expect(queries.count).toBe(1);
    expect(outcomes.map(reasonOf)).toEqual([
      expect.objectContaining({ kind: "key", keyId: valid.keyId, lineage: [valid.keyId] }),
      "revoked_key",
      "expired_key",
      // The child's lineage is its own, walked from its own row.
      expect.objectContaining({ keyId: child.keyId, lineage: [child.keyId, parent.keyId] }),
      "revoked_key",
      "invalid_key",
      "invalid_key",
      expect.objectContaining({ keyId: parent.keyId, lineage: [parent.keyId] }),
    ]);
  });

  it("do not cache an answer read before a change notified while it was in flight, and look up afresh for later callers", async () => {
    const s = services();
    const key = await insertKey(s);
    const cache = new KeyCache();
    let queries = 0;
    let late: Promise<unknown> | null = null;
    const load: LoadKeys = async (keyIds) => {
      queries += 1;
      const records = await loadKeyRecords(s.database, keyIds);
      if (queries === 1) {
        // Revoked after the lookup read the row, before its answer came back: the change's
        // notification (what invalidate() is called by) arrives while it is in flight.
        await s.database.db.update(apiKeys).set({ revokedAt: new Date() }).where(eq(apiKeys.id, key.keyId));
        cache.invalidate(key.keyId);
        late = cache.load(key.keyId, load);
      }
      return records;
    };

    const early = await cache.load(key.keyId, load);

    // The caller that asked before the change gets what was read then; nothing stale is kept.
    expect(early?.key.revokedAt).toBeNull();
    expect(cache.get(key.keyId)).toBeUndefined();
    // A caller asking after the change did not join the stale lookup: it got its own.
    const fresh = (await late) as Awaited<ReturnType<typeof cache.load>>;
    expect(queries).toBe(2);
    expect(fresh?.key.revokedAt).toBeInstanceOf(Date);
    expect(cache.get(key.keyId)?.key.revokedAt).toBeInstanceOf(Date);
  });

  it("coalesce misses arriving while a lookup is in flight into the next single lookup", async () => {
    const s = services();
    const keys = await Promise.all(Array.from({ length: 6 }, () => insertKey(s)));
    const cache = new KeyCache();
    const batches: string[][] = [];
    const load: LoadKeys = async (keyIds) => {
      batches.push(keyIds);
      if (batches.length === 1) {
        // Five more callers ask while the first lookup is in flight.
        for (const k of keys.slice(1)) void cache.load(k.keyId, load);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      return loadKeyRecords(s.database, keyIds);
    };
    const first = await cache.load(keys[0]?.keyId ?? "", load);
    expect(first?.key.id).toBe(keys[0]?.keyId);
    await expect.poll(() => cache.sizes.known).toBe(6);
    expect(batches).toEqual([[keys[0]?.keyId], keys.slice(1).map((k) => k.keyId)]);
  });
});

describe.skipIf(otherDatabase("postgres"))("coalesced key lookups when the database is down", () => {
  for (const outage of ["cut", "stall"] as const) {
    it(`fail every caller of the lookup closed with unavailable within the deadline (${outage})`, async () => {
      const s = services();
      await withProxiedServices(
        testConfig({ peppers: s.config.peppers }),
        async ({ proxy, database, running }) => {
          const keys = await Promise.all(Array.from({ length: 4 }, () => insertKey(running)));
          const cache = new KeyCache();
          const queries = countQueries(database);
          if (outage === "cut") await proxy.cut();
          else proxy.stall();
          const started = performance.now();
          const outcomes = await authenticateAll(running, cache, [
            ...keys.map((k) => k.plaintext),
            generateKey("live").plaintext,
          ]);
          const elapsed = performance.now() - started;
          expect(outcomes.map(reasonOf)).toEqual(Array(5).fill("unavailable"));
          expect(elapsed).toBeLessThan(DATABASE_DEADLINE_MS + 500);
          expect(queries.count).toBe(1);
          // Nothing was cached from the failed lookup, the unknown id included.
          expect(cache.sizes).toEqual({ known: 0, unknown: 0 });
          await proxy.restore();
          // Nothing is left stuck: once the driver has reconnected, lookups answer again.
          await expect
            .poll(async () => (await authenticateAll(running, cache, [keys[0]?.plaintext ?? ""]))[0], {
              timeout: 10_000,
              interval: 200,
            })
            .toMatchObject({ keyId: keys[0]?.keyId });
        },
      );
    });
  }
});
