// Loads what authentication needs about a key (its row, its lineage's limits, its ancestors'
// state) in one query shared with the other misses of the moment, and caches the answer
// in-process keyed by key id — hashes only, never a plaintext; "no such key" is cached too.
// Entries live at most 1 s without confirmation, and are dropped at once on a change
// notification (LISTEN/NOTIFY) or when the listening connection is re-established.
import { sql } from "drizzle-orm";
import { LRUCache } from "lru-cache";
import type { Database, DatabaseHandle } from "../../db/index.ts";

export interface KeyState {
  id: string;
  env: "live" | "test";
  secretHash: string;
  pepperVersion: number;
  name: string;
  owner: string;
  scopes: string[];
  expiresAt: Date | null;
  revokedAt: Date | null;
  endUser: string | null;
  limitId: string;
  rpm: number | null;
  dailyTokens: number | null;
  maxUses: number | null;
  uses: number;
  tokenDay: string | null;
  tokensUsed: number;
}

export interface KeyRecord {
  key: KeyState;
  /** Nearest first. */
  ancestors: KeyState[];
}

interface Row extends Record<string, unknown> {
  depth: number;
  id: string;
  env: "live" | "test";
  secret_hash: string;
  pepper_version: number;
  name: string;
  owner: string;
  scopes: string[] | string;
  expires_at: Date | string | null;
  revoked_at: Date | string | null;
  end_user: string | null;
  limit_id: string;
  rpm: number | null;
  daily_tokens: number | string | null;
  max_uses: number | string | null;
  uses: number | string;
  token_day: string | null;
  tokens_used: number | string;
}

const MAX_DEPTH = 16;

const toDate = (v: Date | string | null): Date | null =>
  v === null ? null : v instanceof Date ? v : new Date(v);
const toNumber = (v: number | string | null): number | null => (v === null ? null : Number(v));
// PGlite returns arrays; some drivers return the text form `{a,b}` for a raw query.
const toArray = (v: string[] | string): string[] =>
  Array.isArray(v)
    ? v
    : v.length <= 2
      ? []
      : v
          .slice(1, -1)
          .split(",")
          .map((s) => s.replace(/^"|"$/g, ""));

function toState(row: Row): KeyState {
  return {
    id: row.id,
    env: row.env,
    secretHash: row.secret_hash,
    pepperVersion: Number(row.pepper_version),
    name: row.name,
    owner: row.owner,
    scopes: toArray(row.scopes),
    expiresAt: toDate(row.expires_at),
    revokedAt: toDate(row.revoked_at),
    endUser: row.end_user,
    limitId: row.limit_id,
    rpm: toNumber(row.rpm),
    dailyTokens: toNumber(row.daily_tokens),
    maxUses: toNumber(row.max_uses),
    uses: Number(row.uses),
    tokenDay: row.token_day,
    tokensUsed: Number(row.tokens_used),
  };
}

/**
 * The records of every listed key that exists, by key id: one query for the whole list, each
 * key's lineage walked from its own root. An id with no key is simply absent from the map.
 */
export async function loadKeyRecords(
  database: DatabaseHandle,
  keyIds: readonly string[],
): Promise<Map<string, KeyRecord>> {
  const rows = await database.rows<Row & { root: string }>(sql`
    with recursive lineage(root, id, parent_id, depth) as (
      select id, id, parent_id, 0 from api_keys where id = any(${sql.param(keyIds)}::text[])
      union all
      select l.root, k.id, k.parent_id, l.depth + 1 from api_keys k join lineage l on k.id = l.parent_id
      where l.depth < ${MAX_DEPTH}
    )
    select l.root, l.depth, k.id, k.env, k.secret_hash, k.pepper_version, k.name, k.owner, k.scopes,
           k.expires_at, k.revoked_at, k.end_user, k.limit_id,
           m.rpm, m.daily_tokens, m.max_uses, m.uses, m.token_day, m.tokens_used
    from lineage l
    join api_keys k on k.id = l.id
    join key_limits m on m.id = k.limit_id
    order by l.root, l.depth`);
  const records = new Map<string, KeyRecord>();
  for (const row of rows) {
    const record = records.get(row.root);
    if (record) record.ancestors.push(toState(row));
    else if (Number(row.depth) === 0) records.set(row.root, { key: toState(row), ancestors: [] });
  }
  return records;
}

export const KEY_CHANGES_CHANNEL = "scopegate_key_changes";
/** An entry unconfirmed for this long is reloaded, so a missed notification cannot stretch revocation. */
export const CACHE_TTL_MS = 1000;
const MAX_ENTRIES = 100_000;
/**
 * Unknown ids are remembered too ("no such key"), so an unknown id and a known id with a wrong
 * secret take the same path (cache, then one HMAC) and timing does not tell them apart. Their
 * table is separate and smaller, so a flood of made-up ids cannot evict real keys.
 */
const MAX_UNKNOWN_ENTRIES = 10_000;

/** Loads the listed keys in one query (the process's database, under its deadline). */
export type LoadKeys = (keyIds: string[]) => Promise<Map<string, KeyRecord>>;

/** Ids in one lookup at most: the query stays small however many distinct misses arrive at once. */
const MAX_LOOKUP_IDS = 500;

interface Waiter {
  promise: Promise<KeyRecord | null>;
  resolve(record: KeyRecord | null): void;
  reject(error: unknown): void;
}

function waiter(): Waiter {
  let resolve!: Waiter["resolve"];
  let reject!: Waiter["reject"];
  const promise = new Promise<KeyRecord | null>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

export class KeyCache {
  // Least-recently-used with an age limit: a full table drops its oldest entry, never all.
  private known: LRUCache<string, KeyRecord>;
  private unknown: LRUCache<string, true>;
  /**
   * Misses are coalesced: every id asked for in one event-loop turn, or while a lookup is in
   * flight, goes to the database in the next single lookup; callers asking for an id already
   * waiting share its answer. With many live keys whose entries expire together, the misses
   * then cost one query per turn instead of one pooled connection each.
   */
  private waiting = new Map<string, Waiter>();
  /** Ids of the lookup in flight; dropped on invalidation, so later callers look up afresh. */
  private inFlight = new Map<string, Waiter>();
  private lookingUp = false;
  private scheduled = false;
  private loadKeys: LoadKeys | null = null;
  hits = 0;
  misses = 0;
  /** Bumped by every invalidation, so a lookup that raced a change is not cached. */
  private generation = 0;

  constructor(now: () => number = () => performance.now()) {
    const perf = { now };
    this.known = new LRUCache({ max: MAX_ENTRIES, ttl: CACHE_TTL_MS, perf });
    this.unknown = new LRUCache({ max: MAX_UNKNOWN_ENTRIES, ttl: CACHE_TTL_MS, perf });
  }

  /** The cached record, `null` for an id cached as unknown, `undefined` when not cached. */
  get(keyId: string): KeyRecord | null | undefined {
    const value = this.known.get(keyId) ?? (this.unknown.get(keyId) ? null : undefined);
    if (value !== undefined) this.hits += 1;
    else this.misses += 1;
    return value;
  }

  /**
   * Looks `keyId` up with the next coalesced lookup (after a `get` miss) and caches the answer.
   * Each caller gets only its own key's record; a failed lookup fails every caller in it.
   */
  load(keyId: string, loadKeys: LoadKeys): Promise<KeyRecord | null> {
    const joined = this.waiting.get(keyId) ?? this.inFlight.get(keyId);
    if (joined) return joined.promise;
    const next = waiter();
    this.waiting.set(keyId, next);
    this.loadKeys = loadKeys;
    this.schedule();
    return next.promise;
  }

  private schedule(): void {
    if (this.lookingUp || this.scheduled || this.waiting.size === 0) return;
    this.scheduled = true;
    // setImmediate, not a microtask: requests parsed in this turn's I/O callbacks join too.
    setImmediate(() => {
      this.scheduled = false;
      void this.lookUp();
    });
  }

  private async lookUp(): Promise<void> {
    const loadKeys = this.loadKeys;
    if (!loadKeys) return;
    const batch: [string, Waiter][] = [];
    for (const [id, entry] of this.waiting) {
      if (batch.length === MAX_LOOKUP_IDS) break;
      batch.push([id, entry]);
      this.waiting.delete(id);
      this.inFlight.set(id, entry);
    }
    const generation = this.generation;
    this.lookingUp = true;
    try {
      const records = await loadKeys(batch.map(([id]) => id));
      // A change notified while loading may predate what was read: do not cache it then.
      const fresh = generation === this.generation;
      for (const [id, entry] of batch) {
        const record = records.get(id) ?? null;
        if (fresh) this.set(id, record);
        entry.resolve(record);
      }
    } catch (error) {
      for (const [, entry] of batch) entry.reject(error);
    } finally {
      for (const [id, entry] of batch) if (this.inFlight.get(id) === entry) this.inFlight.delete(id);
      this.lookingUp = false;
      this.schedule();
    }
  }

  set(keyId: string, record: KeyRecord | null): void {
    if (record) {
      this.unknown.delete(keyId);
      this.known.set(keyId, record);
    } else {
      this.known.delete(keyId);
      this.unknown.set(keyId, true);
    }
  }

  /**
   * Drops the key and every cached key that descends from it or shares its limits. Every
   * "unknown" entry goes too: any change may be a creation (a new key, a rotation's successor,
   * a derived child), and a stale "no such key" must never refuse a key that now exists.
   */
  invalidate(keyId: string): void {
    this.generation += 1;
    this.inFlight.clear();
    this.unknown.clear();
    const affected = [...this.known.entries()].filter(
      ([id, { key, ancestors }]) =>
        id === keyId || key.limitId === keyId || ancestors.some((a) => a.id === keyId),
    );
    for (const [id] of affected) this.known.delete(id);
  }

  clear(): void {
    this.generation += 1;
    this.inFlight.clear();
    this.known.clear();
    this.unknown.clear();
  }

  /** Entry counts, to show the tables stay bounded. */
  get sizes(): { known: number; unknown: number } {
    return { known: this.known.size, unknown: this.unknown.size };
  }
}

/** Tells every process (this one included) that a key changed; delivered when `tx` commits. */
export async function notifyKeyChanged(tx: Database, keyId: string): Promise<void> {
  await tx.execute(sql`select pg_notify(${KEY_CHANGES_CHANNEL}, ${keyId})`);
}

/**
 * Subscribes the cache to key-change notifications. On Postgres each (re)subscription clears
 * the cache, since notifications sent while the listening connection was down are lost.
 */
export async function listenForKeyChanges(
  database: DatabaseHandle,
  cache: KeyCache,
): Promise<() => Promise<void>> {
  if (database.pglite) {
    const unlisten = await database.pglite.listen(KEY_CHANGES_CHANNEL, (keyId) => cache.invalidate(keyId));
    return unlisten;
  }
  const client = database.postgresClient;
  if (!client) return async () => {};
  const subscription = await client.listen(
    KEY_CHANGES_CHANNEL,
    (keyId) => cache.invalidate(keyId),
    () => cache.clear(),
  );
  return () => subscription.unlisten();
}
