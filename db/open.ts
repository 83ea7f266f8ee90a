// Opens the database for a process that will use it: connects (naming why it cannot), then
// applies pending migrations when this role may; a role that may not leaves them pending.
import { createDatabase, type DatabaseHandle, type DatabaseTarget } from "./client.ts";
import {
  DatabaseSetupError,
  describeTarget,
  explainDatabaseError,
  hasErrorCode,
  innermostMessage,
} from "./connection-errors.ts";
import { migrateDatabase, pendingMigrations } from "./migrate.ts";

export interface OpenedDatabase {
  handle: DatabaseHandle;
  /** Committed migrations still not applied: non-zero only when this role may not apply them. */
  pending: number;
  /** Why applying them was refused (the server's words), when it was. */
  refusal?: string;
}

export async function openDatabase(target: DatabaseTarget): Promise<OpenedDatabase> {
  const handle = await createDatabase(target);
  const explained = (error: unknown) =>
    (target.kind === "postgres" ? explainDatabaseError(error, target.url) : null) ?? error;
  try {
    // The first query doubles as the connection check.
    const pending = await pendingMigrations(handle);
    if (pending === 0) return { handle, pending };
    try {
      await migrateDatabase(handle);
      return { handle, pending: 0 };
    } catch (error) {
      // The application role may read the schema, not create it (db/roles.ts): that is not a
      // failure to open, only a database that the owner still has to migrate.
      // 42501: insufficient_privilege.
      if (!hasErrorCode(error, "42501")) throw error;
      return { handle, pending: await pendingMigrations(handle), refusal: innermostMessage(error) };
    }
  } catch (error) {
    await handle.close().catch(() => {});
    throw explained(error);
  }
}

/** Opens and requires a current schema: what every CLI command and `migrate` need. */
export async function openMigratedDatabase(target: DatabaseTarget): Promise<DatabaseHandle> {
  const { handle, pending, refusal } = await openDatabase(target);
  if (pending === 0) return handle;
  await handle.close();
  const user = target.kind === "postgres" ? describeTarget(target.url).user : "this user";
  throw new DatabaseSetupError(
    `${pending} database migration(s) pending, and user "${user}" may not apply them (${refusal ?? "insufficient privilege"}): run \`scopegate migrate\` as the database owner role (e.g. scopegate_owner)`,
    "migrations_pending",
  );
}
