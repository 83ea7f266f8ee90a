// Applies the committed drizzle-kit migrations with the driver's own migrator.
import { fileURLToPath } from "node:url";
import { sql } from "drizzle-orm";
import { readMigrationFiles } from "drizzle-orm/migrator";
import type { PgliteDatabase } from "drizzle-orm/pglite";
import { migrate as migratePglite } from "drizzle-orm/pglite/migrator";
import type { PostgresJsDatabase } from "drizzle-orm/postgres-js";
import { migrate as migratePostgres } from "drizzle-orm/postgres-js/migrator";
import type { DatabaseHandle } from "./client.ts";

export const migrationsFolder = fileURLToPath(new URL("./migrations", import.meta.url));

export async function migrateDatabase(handle: DatabaseHandle): Promise<void> {
  if (handle.driver === "pglite") {
    await migratePglite(handle.db as unknown as PgliteDatabase, { migrationsFolder });
  } else {
    await migratePostgres(handle.db as unknown as PostgresJsDatabase, { migrationsFolder });
  }
}

/**
 * How many committed migrations the database has not applied. The server migrates only when
 * this is non-zero, so it can run under an application role that may not create tables.
 */
export async function pendingMigrations(handle: DatabaseHandle): Promise<number> {
  const committed = readMigrationFiles({ migrationsFolder });
  const [exists] = await handle.rows<{ present: boolean }>(
    sql`select to_regclass('drizzle.__drizzle_migrations') is not null as present`,
  );
  if (!exists?.present) return committed.length;
  const [latest] = await handle.rows<{ at: string | number | null }>(
    sql`select max(created_at) as at from drizzle.__drizzle_migrations`,
  );
  const appliedUntil = Number(latest?.at ?? 0);
  return committed.filter((m) => m.folderMillis > appliedUntil).length;
}
