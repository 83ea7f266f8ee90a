// Unknown key ids are cached like known ones (so timing does not reveal which ids exist), and a
// cached "no such key" never refuses a key created afterwards: in this process, for the very
// same id, and in another process sharing the database.
import { describe, expect, it } from "vitest";
import { apiKeys, createDatabase, keyLimits } from "../../db/index.ts";
import { authenticate } from "../../server/auth/authenticate.ts";
import { generateKey } from "../../server/auth/key-format.ts";
import { KeyCache, loadKeyRecords, notifyKeyChanged } from "../../server/auth/key-store.ts";
import { hashSecret } from "../../server/auth/secret-hash.ts";
import { createContext } from "../../server/context.ts";
import { createLogger } from "../../server/logger.ts";
import { openServices, type RunningServices } from "../../server/services.ts";
import { workerDatabase } from "../helpers/database.ts";
import { createTestKey, requestInfo, useTestServices } from "../helpers/services.ts";
import { otherDatabase } from "../helpers/skip.ts";
import { outcomeOf } from "../pipeline/support.ts";

const services = useTestServices();

const authenticateWith = (s: RunningServices, key: string) =>
  outcomeOf(authenticate(createContext(s, requestInfo({ authorization: `Bearer ${key}` }))));

const keyIdOf = (plaintext: string) => plaintext.split("_")[2] ?? "";

/** Polls (well inside the 1 s cache lifetime) until `key` authenticates; returns whether it did. */
async function authenticatesSoon(s: RunningServices, key: string, withinMs = 500): Promise<boolean> {
  const start = performance.now();
  while (performance.now() - start < withinMs) {
    if ((await authenticateWith(s, key)) === null) return true;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return false;
}

describe("unknown key ids", () => {
  it("are served from the cache on the second lookup, exactly like a known id with a wrong secret", async () => {
    const s = services();
    const known = await createTestKey(s, { scopes: ["endpoint:summarize-doc"] });
    const wrongSecret = generateKey("live", keyIdOf(known.plaintext)).plaintext;
    const unknown = generateKey("live").plaintext;
    // The key's own creation notification lands asynchronously and empties the cache once;
    // a few rounds let it pass. Before unknown ids were cached, no round ever hit.
    const secondLookupHits = async (key: string) => {
      for (let round = 0; round < 5; round++) {
        expect((await authenticateWith(s, key))?.reason).toBe("invalid_key");
        const hits = s.keyCache.hits;
        expect((await authenticateWith(s, key))?.reason).toBe("invalid_key");
        if (s.keyCache.hits === hits + 1) return true;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      return false;
    };
    expect(await secondLookupHits(wrongSecret)).toBe(true);
    expect(await secondLookupHits(unknown)).toBe(true);
  });

  it("never refuse a key created through keys.create right after the lookup", async () => {
    const s = services();
    expect((await authenticateWith(s, generateKey("live").plaintext))?.reason).toBe("invalid_key");
    expect(s.keyCache.sizes.unknown).toBe(1);
    const created = await createTestKey(s, { scopes: ["endpoint:summarize-doc"] });
    expect(s.keyCache.sizes.unknown).toBe(0);
    expect(await authenticateWith(s, created.plaintext)).toBeNull();
  });

  it("never refuse a key later created with that very id (insert + notification, as every creation path does)", async () => {
    const s = services();
    const { keyId, plaintext, secret } = generateKey("live");
    expect((await authenticateWith(s, plaintext))?.reason).toBe("invalid_key");
    expect((await authenticateWith(s, plaintext))?.reason).toBe("invalid_key");
    const pepper = s.config.peppers[0];
    if (!pepper) throw new Error("no pepper");
    // Written on the database's own terms, as another process would: this process learns of
    // it only through the key-change notification.
    await s.database.db.transaction(async (tx) => {
      await tx.insert(keyLimits).values({ id: keyId });
      await tx.insert(apiKeys).values({
        id: keyId,
        env: "live",
        secretHash: hashSecret(pepper, secret),
        pepperVersion: pepper.version,
        name: "same id",
        owner: "team:test",
        scopes: ["endpoint:summarize-doc"],
        limitId: keyId,
        createdBy: "test",
      });
      await notifyKeyChanged(tx, keyId);
    });
    expect(await authenticatesSoon(s, plaintext)).toBe(true);
  });

  it("stay bounded under a flood of made-up ids, and do not evict real keys", async () => {
    const s = services();
    const real = await createTestKey(s, { scopes: ["endpoint:summarize-doc"] });
    // A cache of its own: the services' cache also hears this key's creation notification.
    const cache = new KeyCache();
    cache.set(real.keyId, (await loadKeyRecords(s.database, [real.keyId])).get(real.keyId) ?? null);
    const first = generateKey("live").keyId;
    cache.set(first, null);
    for (let i = 0; i < 10_000; i++) cache.set(generateKey("live").keyId, null);
    expect(cache.sizes).toEqual({ known: 1, unknown: 10_000 });
    expect(cache.get(real.keyId)?.key.id).toBe(real.keyId);
    // The oldest unknown entry made room; the cache was never cleared whole.
    expect(cache.get(first)).toBeUndefined();
  });
});

describe.skipIf(otherDatabase("postgres"))("unknown key ids across processes", () => {
  it("a key created by one process works at once in another that had cached ids as unknown", async () => {
    const s = services();
    const { url } = await workerDatabase();
    if (!url) throw new Error("no database url");
    const other = await openServices(s.config, {
      logger: createLogger("silent"),
      localAdminToken: null,
      database: await createDatabase({ kind: "postgres", url, maxConnections: 2 }),
    });
    try {
      expect((await authenticateWith(other, generateKey("live").plaintext))?.reason).toBe("invalid_key");
      expect(other.keyCache.sizes.unknown).toBe(1);
      const created = await createTestKey(s, { scopes: ["endpoint:summarize-doc"] });
      expect(await authenticatesSoon(other, created.plaintext)).toBe(true);
      // The creation's notification reaches the other process and drops its unknown entries
      // (expired entries stay in the table until touched, so this is the notification's doing).
      const start = performance.now();
      while (other.keyCache.sizes.unknown > 0 && performance.now() - start < 5_000)
        await new Promise((resolve) => setTimeout(resolve, 10));
      expect(other.keyCache.sizes.unknown).toBe(0);
    } finally {
      await other.close();
      await other.database.close();
    }
  });
});
