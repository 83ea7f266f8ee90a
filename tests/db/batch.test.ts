// The group-commit batcher of db/batch.ts on both drivers, on both of its commit paths (fixed
// statements pipelined, work steps in savepoints): a step and its companion rows commit
// together or not at all, and the two paths fail the same way — a refused step fails only its
// caller (`StepFailed`, with the SQLSTATE), a lock that outlasts the deadline or a lost
// connection fails everyone waiting with `unavailable`, and a step the caller was refused for is
// cancelled by the server (statement_timeout), never committed late.
import { sql } from "drizzle-orm";
import postgres from "postgres";
import { beforeAll, beforeEach, describe, expect, it } from "vitest";
import {
  type Companion,
  createDatabase,
  type DatabaseHandle,
  Declined,
  type Statement,
  type Step,
  StepFailed,
  TransactionBatcher,
} from "../../db/index.ts";
import { DATABASE_DEADLINE_MS, databaseGuard } from "../../server/db-errors.ts";
import { workerDatabase } from "../helpers/database.ts";
import { otherDatabase } from "../helpers/skip.ts";

const PROBE = `batch_probe_${process.pid}`;
const NOTES = `batch_notes_${process.pid}`;
let db: DatabaseHandle;
let url: string | null;

/** Writes each caller's payload (a note) into NOTES with its step: what the audit chain does with records. */
class Notes implements Companion<string> {
  committed: string[] = [];
  async beforeBatch(): Promise<void> {}
  join(payloads: string[]) {
    const statements: Statement[] =
      payloads.length > 0
        ? [{ text: `insert into ${NOTES} (note) select unnest($1::text[])`, params: [payloads] }]
        : [];
    return { statements, committed: () => this.committed.push(...payloads) };
  }
  failed(): void {}
}

const newBatcher = (handle: DatabaseHandle = db) => {
  const notes = new Notes();
  return { notes, batcher: new TransactionBatcher(handle, notes, { guard: databaseGuard }) };
};

const insertFixed = (id: string): Step<null> => ({
  statement: { text: `insert into ${PROBE} (id, n) values ($1, 0)`, params: [id] },
  lockIds: [],
});
const insertWork = (id: string): Step<null> => ({
  work: async (tx) => {
    await tx.execute(sql`insert into ${sql.raw(PROBE)} (id, n) values (${id}, 0)`);
    return null;
  },
});
const bumpFixed = (id: string): Step<null> => ({
  statement: { text: `update ${PROBE} set n = n + 1 where id = $1`, params: [id] },
  lockIds: [],
});
const bumpWork = (id: string): Step<null> => ({
  work: async (tx) => {
    await tx.execute(sql`update ${sql.raw(PROBE)} set n = n + 1 where id = ${id}`);
    return null;
  },
});
const paths = [
  { path: "pipelined fixed statements", insert: insertFixed, bump: bumpFixed },
  { path: "savepoint work steps", insert: insertWork, bump: bumpWork },
];

const probeIds = async () =>
  (await db.rows<{ id: string }>(sql`select id from ${sql.raw(PROBE)} order by id`)).map((r) => r.id);
const notes = async () =>
  (await db.rows<{ note: string }>(sql`select note from ${sql.raw(NOTES)} order by note`)).map((r) => r.note);
const counter = async (id: string) =>
  (await db.rows<{ n: number }>(sql`select n from ${sql.raw(PROBE)} where id = ${id}`))[0]?.n;

beforeAll(async () => {
  ({ handle: db, url } = await workerDatabase());
  await db.db.execute(sql.raw(`create table if not exists ${PROBE} (id text primary key, n int not null)`));
  await db.db.execute(sql.raw(`create table if not exists ${NOTES} (note text not null)`));
});
beforeEach(async () => {
  await db.db.execute(sql.raw(`delete from ${PROBE} where true`));
  await db.db.execute(sql.raw(`delete from ${NOTES} where true`));
});

describe.each(paths)("batcher, $path", ({ insert, bump }) => {
  it("commits each step with its companion rows; a declined step writes neither", async () => {
    const { batcher } = newBatcher();
    const declining: Step<Declined<string> | null> =
      "work" in insert("x")
        ? {
            work: async (tx) => {
              await tx.execute(sql`insert into ${sql.raw(PROBE)} (id, n) values ('declined', 0)`);
              return new Declined("no");
            },
          }
        : {
            statement: { text: `select 1 as one`, params: [] },
            lockIds: [],
            outcome: () => new Declined("no"),
          };
    const results = await Promise.all([
      batcher.commitWith("note a", insert("a")),
      batcher.commitWith("note declined", declining),
      batcher.commitWith("note b", insert("b")),
      batcher.commit("note plain"),
    ]);
    expect(results[1]).toBeInstanceOf(Declined);
    expect(await probeIds()).toEqual(["a", "b"]);
    expect(await notes()).toEqual(["note a", "note b", "note plain"]);
  });

  it("fails only the refused step's caller, with StepFailed and its SQLSTATE", async () => {
    const { batcher, notes: companion } = newBatcher();
    await batcher.commitWith("note existing", insert("existing"));
    // Queued together, so they share a transaction: the duplicate must not cost the others.
    const outcomes = await Promise.allSettled([
      batcher.commitWith("note x1", insert("x1")),
      batcher.commitWith("note duplicate", insert("existing")),
      batcher.commitWith("note x2", insert("x2")),
    ]);
    expect(outcomes.map((o) => o.status)).toEqual(["fulfilled", "rejected", "fulfilled"]);
    const refused = outcomes[1]?.status === "rejected" ? outcomes[1].reason : null;
    expect(refused).toBeInstanceOf(StepFailed);
    expect(refused).toMatchObject({ code: "23505", message: expect.stringMatching(/duplicate key/) });
    expect(await probeIds()).toEqual(["existing", "x1", "x2"]);
    expect(await notes()).toEqual(["note existing", "note x1", "note x2"]);
    expect(companion.committed.sort()).toEqual(["note existing", "note x1", "note x2"]);
  });

  // A second connection can hold a lock only on a server; PGlite has one connection.
  it.skipIf(otherDatabase("postgres"))(
    "a lock held past the deadline fails the caller with unavailable in time, and the server cancels the step",
    async () => {
      const { batcher } = newBatcher();
      await batcher.commitWith("note row", insert("row"));
      await holdingLock("row", async () => {
        const started = performance.now();
        const error = await batcher.commitWith("note late", bump("row")).catch((e: unknown) => e);
        expect(error).toMatchObject({ reason: "unavailable" });
        expect(performance.now() - started).toBeLessThan(DATABASE_DEADLINE_MS + 500);
      });
      // Once the lock is gone, nothing the caller was refused for may still commit.
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(await counter("row")).toBe(0);
      expect(await notes()).toEqual(["note row"]);
      // And the pool still works.
      await batcher.commitWith("note after", bump("row"));
      expect(await counter("row")).toBe(1);
    },
    DATABASE_DEADLINE_MS * 3,
  );

  it.skipIf(otherDatabase("postgres"))(
    "a lost connection fails the batch and everyone queued behind it with unavailable",
    async () => {
      // A pool of its own: after a backend is terminated, postgres-js answers the next query on
      // that pool slot with the stale FATAL error once, which must not reach the next test file
      // through the worker's shared pool.
      if (!url) throw new Error("needs a PostgreSQL server");
      const own = await createDatabase({ kind: "postgres", url, maxConnections: 2 });
      const { batcher } = newBatcher(own);
      try {
        await batcher.commitWith("note row", insert("row"));
        await holdingLock("row", async (terminateWaiters) => {
          const first = batcher.commitWith("note first", bump("row")).catch((e: unknown) => e);
          const queued = batcher.commitWith("note queued", insert("queued")).catch((e: unknown) => e);
          await terminateWaiters();
          const started = performance.now();
          expect(await first).toMatchObject({ reason: "unavailable" });
          expect(await queued).toMatchObject({ reason: "unavailable" });
          expect(performance.now() - started).toBeLessThan(DATABASE_DEADLINE_MS);
        });
        expect(await counter("row")).toBe(0);
        expect(await notes()).toEqual(["note row"]);
        await batcher.commitWith("note after", bump("row"));
        expect(await counter("row")).toBe(1);
      } finally {
        await own.close();
      }
    },
    DATABASE_DEADLINE_MS * 3,
  );
});

describe("batcher queue", () => {
  it("refuses callers past its bound with unavailable instead of falling behind", async () => {
    const notes = new Notes();
    const batcher = new TransactionBatcher(db, notes, { guard: databaseGuard, maxQueued: 2 });
    // The first is taken into a batch at once; two more wait; the fourth finds the queue full.
    const outcomes = await Promise.allSettled(["n1", "n2", "n3", "n4"].map((n) => batcher.commit(n)));
    expect(outcomes.map((o) => o.status)).toEqual(["fulfilled", "fulfilled", "fulfilled", "rejected"]);
    expect(outcomes[3]).toMatchObject({ reason: { reason: "unavailable" } });
    expect(notes.committed).toEqual(["n1", "n2", "n3"]);
  });
});

/**
 * Runs `body` while another connection holds row `id` locked; `body` may terminate the
 * backends waiting for that lock (a connection lost mid-transaction).
 */
async function holdingLock(id: string, body: (terminateWaiters: () => Promise<void>) => Promise<void>) {
  if (!url) throw new Error("needs a PostgreSQL server");
  const other = postgres(url, { max: 1, onnotice: () => {} });
  try {
    await other.begin(async (tx) => {
      await tx.unsafe(`select id from ${PROBE} where id = $1 for update`, [id]);
      await body(async () => {
        // Waiters show up once their statement reached the lock.
        for (let i = 0; i < 50; i++) {
          const [ended] = await tx.unsafe(
            `select count(pg_terminate_backend(pid))::int as n from pg_stat_activity
             where datname = current_database() and wait_event_type = 'Lock' and pid <> pg_backend_pid()`,
          );
          if (Number(ended?.n) > 0) return;
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
        throw new Error("no backend waited for the lock");
      });
    });
  } finally {
    await other.end();
  }
}
