// One test database per vitest worker: an in-memory PGlite (starting one costs ~3 s, so it is
// shared), or, with DATABASE_URL, a fresh database created on that server for this worker and
// dropped when the worker ends. Tables are truncated between tests.
import { randomBytes } from "node:crypto";
import { sql } from "drizzle-orm";
import postgres from "postgres";
import { inject } from "vitest";
import { createDatabase, type DatabaseHandle, migrateDatabase } from "../../db/index.ts";

interface WorkerDatabase {
  handle: DatabaseHandle;
  url: string | null;
}

const GLOBAL_KEY = Symbol.for("scopegate.test.database");
type WorkerGlobal = { [GLOBAL_KEY]?: Promise<WorkerDatabase> };

export function testDatabaseUrl(): string | undefined {
  return process.env.DATABASE_URL;
}

/** Creates an empty database on the test server and returns its URL (dropped by `dropDatabase`). */
export async function createScratchDatabase(baseUrl: string): Promise<string> {
  const name = `sg_test_${process.pid}_${randomBytes(4).toString("hex")}`;
  const admin = postgres(baseUrl, { max: 1, onnotice: () => {} });
  try {
    await admin.unsafe(`create database "${name}"`);
  } finally {
    await admin.end();
  }
  const url = new URL(baseUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

export async function dropDatabase(baseUrl: string, url: string): Promise<void> {
  const name = new URL(url).pathname.slice(1);
  const admin = postgres(baseUrl, { max: 1, onnotice: () => {} });
  try {
    await admin.unsafe(`drop database if exists "${name}" with (force)`);
  } finally {
    await admin.end();
  }
}

async function openWorkerDatabase(): Promise<WorkerDatabase> {
  if (!testDatabaseUrl()) {
    const handle = await createDatabase({ kind: "pglite", dataDir: null });
    await migrateDatabase(handle);
    return { handle, url: null };
  }
  // global-setup.ts created one database per worker slot; VITEST_POOL_ID picks ours (1-based).
  const urls = inject("workerDatabaseUrls");
  const url = urls[Number(process.env.VITEST_POOL_ID ?? "1") - 1];
  if (!url) throw new Error(`no test database for pool ${process.env.VITEST_POOL_ID}`);
  const handle = await createDatabase({ kind: "postgres", url, maxConnections: 10 });
  await migrateDatabase(handle);
  return { handle, url };
}

export async function workerDatabase(): Promise<WorkerDatabase> {
  const g = globalThis as WorkerGlobal;
  g[GLOBAL_KEY] ??= openWorkerDatabase();
  return g[GLOBAL_KEY];
}

export async function resetDatabase(handle: DatabaseHandle): Promise<void> {
  await handle.db.execute(
    sql`truncate table audit_log, audit_checkpoints, documents, api_keys restart identity cascade`,
  );
}
