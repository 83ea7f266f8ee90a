// The databases the auth benchmarks run on: an in-memory PGlite, and with DATABASE_URL a
// scratch database of its own on that Postgres, dropped afterwards (the server's stay untouched).
import { createDatabase, type DatabaseHandle, migrateDatabase } from "../../db/index.ts";
import { createScratchDatabase, dropDatabase } from "../../tests/helpers/database.ts";

/** Runs `measure` on each database in turn, each freshly migrated; returns the results in order. */
export async function onEachDatabase<T>(
  measure: (label: string, database: DatabaseHandle) => Promise<T>,
): Promise<T[]> {
  const results: T[] = [];
  const pglite = await createDatabase({ kind: "pglite", dataDir: null });
  try {
    await migrateDatabase(pglite);
    results.push(await measure("PGlite (in-process)", pglite));
  } finally {
    await pglite.close();
  }
  const baseUrl = process.env.DATABASE_URL;
  if (!baseUrl) return results;
  const url = await createScratchDatabase(baseUrl);
  const pg = await createDatabase({ kind: "postgres", url });
  try {
    await migrateDatabase(pg);
    results.push(await measure("Postgres (127.0.0.1)", pg));
  } finally {
    await pg.close();
    await dropDatabase(baseUrl, url);
  }
  return results;
}
