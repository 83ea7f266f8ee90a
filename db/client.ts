// Opens the database: embedded PGlite in a data directory when no DATABASE_URL is given,
// postgres-js against a real server otherwise. Both expose the same Drizzle schema.
import { PGlite } from "@electric-sql/pglite";
import type { SQL } from "drizzle-orm";
import postgres from "postgres";
import {
  type Database,
  pgliteDatabase,
  pgliteTransactWork,
  postgresDatabase,
  postgresTransactWork,
  type TransactWork,
} from "./drizzle-transaction.ts";
import { pgliteTransact, postgresTransact, type Transact } from "./transact.ts";

export type { Database } from "./drizzle-transaction.ts";

export type DatabaseTarget =
  | { kind: "postgres"; url: string; maxConnections?: number }
  | { kind: "pglite"; dataDir: string | null; instance?: PGlite };

export interface DatabaseHandle {
  db: Database;
  driver: "pglite" | "postgres";
  /** Raw SQL returning rows; hides that PGlite answers `{ rows }` and postgres-js an array. */
  rows<T extends Record<string, unknown>>(query: SQL): Promise<T[]>;
  /** Fixed-text statements in one transaction, pipelined where the driver can (db/transact.ts). */
  transact: Transact;
  /** A Drizzle transaction with savepoints, bounded and failing like `transact` (db/drizzle-transaction.ts). */
  transactWork: TransactWork;
  /** The underlying postgres-js client (LISTEN/NOTIFY), absent on PGlite. */
  postgresClient?: postgres.Sql;
  pglite?: PGlite;
  close(): Promise<void>;
}

// A dead server must fail a request within 3 s: connect quickly, never wait forever for a slot.
const CONNECT_TIMEOUT_SECONDS = 2;

export async function createDatabase(target: DatabaseTarget): Promise<DatabaseHandle> {
  if (target.kind === "postgres") {
    const client = postgres(target.url, {
      max: target.maxConnections ?? 10,
      connect_timeout: CONNECT_TIMEOUT_SECONDS,
      idle_timeout: 30,
      onnotice: () => {},
      connection: { application_name: "scopegate", statement_timeout: 5000 },
    });
    const db = postgresDatabase(client);
    return {
      db,
      driver: "postgres",
      postgresClient: client,
      transact: postgresTransact(client),
      transactWork: postgresTransactWork(client),
      rows: async <T extends Record<string, unknown>>(query: SQL) =>
        (await db.execute(query)) as unknown as T[],
      close: () => client.end({ timeout: 5 }),
    };
  }
  const pglite = target.instance ?? (target.dataDir === null ? new PGlite() : new PGlite(target.dataDir));
  await pglite.waitReady;
  const db = pgliteDatabase(pglite);
  return {
    db,
    driver: "pglite",
    pglite,
    transact: pgliteTransact(pglite),
    transactWork: pgliteTransactWork(db),
    rows: async <T extends Record<string, unknown>>(query: SQL) =>
      ((await db.execute(query)) as unknown as { rows: T[] }).rows,
    close: async () => {
      // A shared instance (tests) belongs to whoever created it.
      if (!target.instance) await pglite.close();
    },
  };
}
