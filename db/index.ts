// Public surface of db/: the handle, the migrator and the schema. Knows nothing of tRPC.

export {
  type BatcherOptions,
  type Companion,
  type DatabaseGuard,
  Declined,
  type FixedStep,
  type Step,
  StepFailed,
  TransactionBatcher,
  type WorkStep,
} from "./batch.ts";
export { createDatabase, type Database, type DatabaseHandle, type DatabaseTarget } from "./client.ts";
export { DatabaseSetupError, type DatabaseSetupReason, explainDatabaseError } from "./connection-errors.ts";
export { migrateDatabase, migrationsFolder, pendingMigrations } from "./migrate.ts";
export { type OpenedDatabase, openDatabase, openMigratedDatabase } from "./open.ts";
export * from "./schema/index.ts";
export {
  type Deadline,
  type Rows,
  type Statement,
  statementSql,
  statementTimeout,
  type Transact,
} from "./transact.ts";
