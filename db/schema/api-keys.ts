// API keys: public id, HMAC of the secret under a versioned pepper, scopes, lifecycle and limits.
// The plaintext key is never stored.
import { sql } from "drizzle-orm";
import { type AnyPgColumn, bigint, index, integer, pgTable, text, timestamp } from "drizzle-orm/pg-core";

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
    maxUses: bigint("max_uses", { mode: "number" }),
    uses: bigint("uses", { mode: "number" }).notNull().default(0),
    rpm: integer("rpm"),
    dailyTokens: bigint("daily_tokens", { mode: "number" }),
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
  ],
);

export type ApiKeyRow = typeof apiKeys.$inferSelect;
