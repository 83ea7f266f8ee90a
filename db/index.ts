// Public surface of db/: the handle, the migrator and the schema. Knows nothing of tRPC.
export { createDatabase, type Database, type DatabaseHandle, type DatabaseTarget } from "./client.ts";
export { DatabaseSetupError, type DatabaseSetupReason, explainDatabaseError } from "./connection-errors.ts";
export { migrateDatabase, migrationsFolder, pendingMigrations } from "./migrate.ts";
export { type OpenedDatabase, openDatabase, openMigratedDatabase } from "./open.ts";
export * from "./schema/index.ts";
export { type Rows, type Statement, statementSql, type Transact } from "./transact.ts";
