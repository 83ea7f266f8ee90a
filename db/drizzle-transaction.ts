// Drizzle transactions with savepoints, for work that needs the query builder (key lifecycle
// changes), bounded by the caller's deadline like the fixed-text ones of transact.ts and
// failing like them. On postgres-js the transaction runs on a reserved connection that we
// begin, savepoint and end ourselves: after a lost connection nothing more may be written to it
// (postgres-js would write to a closed socket from a timer, an uncatchable crash:
// porsager/postgres#1208), which its own `begin` does when it rolls back.
import type { PGlite } from "@electric-sql/pglite";
import type { PgDatabase, PgQueryResultHKT } from "drizzle-orm/pg-core";
import { drizzle as drizzlePglite } from "drizzle-orm/pglite";
import { drizzle as drizzlePostgres } from "drizzle-orm/postgres-js";
import postgres from "postgres";
import * as schema from "./schema/index.ts";
import { type Deadline, type Statement, statementSql, statementTimeout } from "./transact.ts";

export type Database = PgDatabase<PgQueryResultHKT, typeof schema>;

export interface WorkTransaction {
  tx: Database;
  /** Runs `work` in a savepoint: when it throws, its writes are undone and the transaction goes on. */
  savepoint<T>(work: (tx: Database) => Promise<T>): Promise<T>;
  run(statement: Statement): Promise<void>;
}

/** Runs `body` in one transaction whose statements never run past `deadline`; commits when it resolves. */
export type TransactWork = <T>(
  body: (transaction: WorkTransaction) => Promise<T>,
  deadline: Deadline,
) => Promise<T>;

export function pgliteDatabase(pglite: PGlite): Database {
  return drizzlePglite(pglite, { schema }) as unknown as Database;
}

export function postgresDatabase(client: postgres.Sql): Database {
  return drizzlePostgres(client, { schema }) as unknown as Database;
}

export function pgliteTransactWork(db: Database): TransactWork {
  // One connection in one process: it cannot be lost, so Drizzle's own transactions do.
  return (body, deadline) =>
    db.transaction(async (tx) => {
      deadline.signal.throwIfAborted();
      await tx.execute(statementSql(statementTimeout(deadline)));
      return body({
        tx,
        savepoint: (work) => tx.transaction(work),
        run: async (statement) => {
          await tx.execute(statementSql(statement));
        },
      });
    });
}

export function postgresTransactWork(client: postgres.Sql): TransactWork {
  return async (body, deadline) => {
    deadline.signal.throwIfAborted();
    const connection = await client.reserve();
    // Only a server's answer proves the connection still works (as in transact.ts). Every query
    // on it, Drizzle's too, goes through `unsafe`, so every failure is seen here.
    let connected = true;
    const unsafe = ((...args: Parameters<postgres.Sql["unsafe"]>) => {
      const query = connection.unsafe(...args);
      query.catch((error: unknown) => {
        if (!(error instanceof postgres.PostgresError)) connected = false;
      });
      return query;
    }) as postgres.Sql["unsafe"];
    const exec = async (text: string, params: readonly unknown[] = []) => {
      await unsafe(text, params as postgres.ParameterOrJSON<never>[]);
    };
    // Drizzle over the reserved connection (plain queries only: savepoints are ours); the pool's
    // type parsers are set up already.
    const tx = postgresDatabase({ unsafe, options: client.options } as unknown as postgres.Sql);
    let savepoints = 0;
    const savepoint = async <T>(work: (tx: Database) => Promise<T>): Promise<T> => {
      const name = `step_${savepoints++}`;
      await exec(`savepoint ${name}`);
      try {
        const result = await work(tx);
        await exec(`release savepoint ${name}`);
        return result;
      } catch (error) {
        if (connected) await exec(`rollback to savepoint ${name}`);
        throw error;
      }
    };
    try {
      // It may have passed while waiting for the connection.
      deadline.signal.throwIfAborted();
      const timeout = statementTimeout(deadline);
      await exec("begin");
      await exec(timeout.text, timeout.params);
      const result = await body({
        tx,
        savepoint,
        run: (statement) => exec(statement.text, statement.params),
      });
      await exec("commit");
      return result;
    } catch (error) {
      if (connected) await exec("rollback").catch(() => {});
      throw error;
    } finally {
      if (connected) connection.release();
    }
  };
}
