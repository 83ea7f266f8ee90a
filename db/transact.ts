// Transactions of fixed-text statements for the request hot path (admission and the audit
// writer). Drizzle's query builder costs more CPU per statement than the statement itself, and
// its transactions wait for every answer before sending the next statement; here the text is
// written once, prepared once per connection, and on postgres-js a phase's statements (with
// BEGIN, and COMMIT when nothing follows) go out together: one round trip per phase.
import type { PGlite, Transaction } from "@electric-sql/pglite";
import { type SQL, sql } from "drizzle-orm";
import postgres from "postgres";

export interface Statement {
  readonly text: string;
  readonly params: readonly unknown[];
}

export type Rows = Record<string, unknown>[];

/**
 * A caller's bound on one database step: `signal` aborts when it has passed, and no statement of
 * the step may run longer than what is left of it (`statement_timeout`, set per transaction),
 * so a step the server is still working on when its caller gives up is cancelled, not committed
 * late.
 */
export interface Deadline {
  readonly signal: AbortSignal;
  remainingMs(): number;
}

// SET cannot take a bound parameter; set_config(…, true) is the same as SET LOCAL and can, so the
// text stays fixed (prepared once). PGlite accepts it but, single-threaded, never enforces it.
const SET_STATEMENT_TIMEOUT = "select set_config('statement_timeout', $1, true)";

/** The statement that bounds every later statement of the transaction by `deadline`. */
export function statementTimeout(deadline: Deadline): Statement {
  return { text: SET_STATEMENT_TIMEOUT, params: [String(Math.max(1, Math.floor(deadline.remainingMs())))] };
}

/**
 * Runs `first` in a new transaction; `then`, given their rows, names the statements that follow
 * (its choice may depend on what `first` found), and the transaction commits. Without `then`
 * the commit is sent with `first`. Any failure rolls the whole transaction back. Resolves with
 * the rows of `first` and then of the follow-up statements, in order. With a `deadline`, no
 * statement runs past it, and once it has passed (the caller gave up) nothing more is sent and
 * the transaction rolls back.
 */
export type Transact = (
  first: readonly Statement[],
  then?: (rows: Rows[]) => Statement[],
  deadline?: Deadline,
) => Promise<Rows[]>;

export function postgresTransact(client: postgres.Sql): Transact {
  return async (first, then, deadline) => {
    const signal = deadline?.signal;
    signal?.throwIfAborted();
    const connection = await client.reserve();
    if (signal?.aborted) {
      connection.release();
      signal.throwIfAborted();
    }
    const sent: Promise<unknown>[] = [];
    // Only a server's answer (a PostgresError) proves the connection still works. After any
    // other failure it is lost: postgres-js has already set it aside to reconnect, and writing
    // to it or handing it back to the pool would use a closed socket.
    let connected = true;
    // Sent now, in order, on the reserved connection: the server runs them in that order.
    const send = (text: string, params: readonly unknown[] = []): Promise<Rows> => {
      const query = connection
        .unsafe(text, params as postgres.ParameterOrJSON<never>[], { prepare: params.length > 0 })
        .execute();
      sent.push(
        query.catch((error: unknown) => {
          if (!(error instanceof postgres.PostgresError)) connected = false;
        }),
      );
      return query as unknown as Promise<Rows>;
    };
    try {
      const begin = send("begin");
      if (deadline) {
        // Sent with the rest (no round trip of its own); its rows are not among those returned.
        const timeout = statementTimeout(deadline);
        void send(timeout.text, timeout.params);
      }
      const firstRows = first.map((statement) => send(statement.text, statement.params));
      if (!then) {
        const commit = send("commit");
        await begin;
        const rows = await Promise.all(firstRows);
        await commit;
        return rows;
      }
      await begin;
      const rows = await Promise.all(firstRows);
      signal?.throwIfAborted();
      const followRows = then(rows).map((statement) => send(statement.text, statement.params));
      const commit = send("commit");
      rows.push(...(await Promise.all(followRows)));
      await commit;
      return rows;
    } catch (error) {
      // A failed statement aborted the transaction (a pipelined COMMIT then answers ROLLBACK);
      // roll back explicitly too, so the connection goes back to the pool outside a transaction.
      if (connected) void send("rollback");
      throw error;
    } finally {
      // Released only once everything sent on it has answered.
      void Promise.all(sent).then(() => {
        if (connected) connection.release();
      });
    }
  };
}

export function pgliteTransact(pglite: PGlite): Transact {
  const run = async (tx: Transaction, statements: readonly Statement[]): Promise<Rows[]> => {
    const rows: Rows[] = [];
    for (const statement of statements)
      rows.push((await tx.query<Rows[number]>(statement.text, [...statement.params])).rows);
    return rows;
  };
  return (first, then, deadline) =>
    pglite.transaction(async (tx) => {
      const signal = deadline?.signal;
      signal?.throwIfAborted();
      if (deadline) await run(tx, [statementTimeout(deadline)]);
      const rows = await run(tx, first);
      signal?.throwIfAborted();
      if (then) rows.push(...(await run(tx, then(rows))));
      return rows;
    });
}

/**
 * A statement as Drizzle SQL, to run it inside a Drizzle transaction (`$n` become bound values;
 * an array stays one value, as it is in the fixed text, not a list).
 */
export function statementSql(statement: Statement): SQL {
  const parts = statement.text.split(/\$(\d+)/);
  return sql.join(
    parts.map((part, i) => (i % 2 === 0 ? sql.raw(part) : sql.param(statement.params[Number(part) - 1]))),
  );
}
