// API keys: public id, HMAC of the secret under a versioned pepper, scopes and lifecycle; their
// limits and counters live in key_limits. The plaintext key is never stored.
import { sql } from "drizzle-orm";
import { type AnyPgColumn, index, integer, pgTable, text, timestamp } from "drizzle-orm/pg-core";

export const apiKeys = pgTable(
  "api_keys",
  {
    id: text("id").primaryKey(),
    env: text("env", { enum: ["live", "test"] }).notNull(),
    secretHash: text("secret_hash").notNull(),
    pepperVersion: integer("pepper_version").notNull(),
    name: text("name").notNull(),
    owner: text("owner").notNull(),
    scopes: text("scopes").array().notNull(),
    createdAt: timestamp("created_at", { withTimezone: true, mode: "date" }).notNull().defaultNow(),
    expiresAt: timestamp("expires_at", { withTimezone: true, mode: "date" }),
    revokedAt: timestamp("revoked_at", { withTimezone: true, mode: "date" }),
    /** The metering row (key_limits) this key is charged to; shared across rotations. */
    limitId: text("limit_id").notNull(),
    parentId: text("parent_id").references((): AnyPgColumn => apiKeys.id),
    rotatedFromId: text("rotated_from_id"),
    endUser: text("end_user"),
    createdBy: text("created_by").notNull(),
    lastUsedAt: timestamp("last_used_at", { withTimezone: true, mode: "date" }),
  },
  (table) => [
    // Derived keys are disabled with their parent: descendants are found by parent id.
    index("api_keys_parent_id_idx").on(table.parentId).where(sql`${table.parentId} is not null`),
    index("api_keys_owner_idx").on(table.owner),
    // A key is rotated at most once: the successor is found by rotated_from_id.
    index("api_keys_rotated_from_idx").on(table.rotatedFromId).where(sql`${table.rotatedFromId} is not null`),
  ],
);

export type ApiKeyRow = typeof apiKeys.$inferSelect;
