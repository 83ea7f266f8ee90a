// The pipelined transaction of db/transact.ts on both drivers: statements run in order, `then`
// sees the first phase's rows, and any failure (a statement's or `then`'s own) leaves nothing
// behind and a connection pool that still works.
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import type { DatabaseHandle, Deadline, Statement } from "../../db/index.ts";
import { workerDatabase } from "../helpers/database.ts";

let db: DatabaseHandle;
const TABLE = `transact_probe_${process.pid}`;
const insert = (value: number): Statement => ({
  text: `insert into ${TABLE} (value) values ($1::int) returning value`,
  params: [value],
});
/** A deadline with `ms` left (fixed, so the statement_timeout it sets is known). */
const deadline = (ms: number, signal = new AbortController().signal): Deadline => ({
  signal,
  remainingMs: () => ms,
});
const values = async () =>
  (await db.transact([{ text: `select value from ${TABLE} order by value`, params: [] }]))[0]?.map(
    (row) => row.value,
  );

beforeAll(async () => {
  db = (await workerDatabase()).handle;
  await db.transact([{ text: `create table if not exists ${TABLE} (value int primary key)`, params: [] }]);
});
afterEach(async () => {
  await db.transact([{ text: `delete from ${TABLE} where true`, params: [] }]);
});

describe("transact", () => {
  it("commits both phases; the second is chosen from the first's rows", async () => {
    const rows = await db.transact([insert(1), insert(2)], (first) => {
      const sum = first.reduce((total, r) => total + Number(r[0]?.value), 0);
      return [insert(sum * 10)];
    });
    expect(rows.map((r) => r[0]?.value)).toEqual([1, 2, 30]);
    expect(await values()).toEqual([1, 2, 30]);
  });

  it("rolls back every statement when one fails, and the pool stays usable", async () => {
    // The duplicate key fails the second statement; the first must not survive it.
    await expect(db.transact([insert(5), insert(5), insert(6)])).rejects.toThrow(/duplicate key/);
    await expect(db.transact([insert(7)], () => [insert(7)])).rejects.toThrow(/duplicate key/);
    expect(await values()).toEqual([]);
    // Every pooled connection is back outside a transaction: many concurrent ones all commit.
    await Promise.all(Array.from({ length: 25 }, (_, i) => db.transact([insert(100 + i)])));
    expect(await values()).toHaveLength(25);
  });

  it("sends nothing once its caller's deadline has passed", async () => {
    const passed = deadline(0, AbortSignal.abort());
    await expect(db.transact([insert(11)], undefined, passed)).rejects.toThrow(/abort/i);
    await expect(db.transact([insert(12)], () => [insert(13)], passed)).rejects.toThrow(/abort/i);
    expect(await values()).toEqual([]);
    await db.transact([insert(14)], undefined, deadline(1000));
    expect(await values()).toEqual([14]);
  });

  it("bounds every statement of the transaction by what is left of the deadline", async () => {
    const timeout = { text: "select current_setting('statement_timeout') as value", params: [] };
    // In both phases, and only for this transaction (SET LOCAL): the next one has its default.
    const rows = await db.transact([timeout], () => [timeout], deadline(1234.7));
    expect(rows.map((r) => r[0]?.value)).toEqual(["1234ms", "1234ms"]);
    const [after] = await db.transact([timeout]);
    expect(after?.[0]?.value).not.toBe("1234ms");
  });

  it("rolls back the first phase when choosing the second throws", async () => {
    await expect(
      db.transact([insert(9)], () => {
        throw new Error("no follow-up");
      }),
    ).rejects.toThrow("no follow-up");
    expect(await values()).toEqual([]);
    await db.transact([insert(10)]);
    expect(await values()).toEqual([10]);
  });
});
