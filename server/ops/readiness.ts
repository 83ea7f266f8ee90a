// Readiness for a load balancer: the database answers, its migrations are current, and a
// model provider is configured. Liveness (/healthz) needs none of these.
import { sql } from "drizzle-orm";
import { pendingMigrations } from "../../db/index.ts";
import type { Services } from "../context.ts";
import { withDatabase } from "../db-errors.ts";

export type Readiness =
  | { ready: true }
  | { ready: false; reason: "database_unreachable" | "migrations_pending" | "no_model" };

export async function checkReadiness(services: Services): Promise<Readiness> {
  try {
    await withDatabase(() => services.database.rows(sql`select 1 as ok`));
    if ((await withDatabase(() => pendingMigrations(services.database))) > 0) {
      return { ready: false, reason: "migrations_pending" };
    }
  } catch {
    return { ready: false, reason: "database_unreachable" };
  }
  if (!services.model.name) return { ready: false, reason: "no_model" };
  return { ready: true };
}
