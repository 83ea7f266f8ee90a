// Metering state shared by a key lineage (a key and its rotations): the GCRA rate bucket, the
// daily token budget with in-flight reservations, and the use count. Every change is one
// conditional UPDATE, so processes sharing the database can never overshoot a limit.
import { bigint, doublePrecision, integer, pgTable, text } from "drizzle-orm/pg-core";

export const keyLimits = pgTable("key_limits", {
  /** The id of the key that started the lineage; rotated keys point here through api_keys.limit_id. */
  id: text("id").primaryKey(),
  rpm: integer("rpm"),
  dailyTokens: bigint("daily_tokens", { mode: "number" }),
  maxUses: bigint("max_uses", { mode: "number" }),
  uses: bigint("uses", { mode: "number" }).notNull().default(0),
  /** GCRA theoretical arrival time, epoch milliseconds (fractional: 60000/rpm need not divide). */
  tat: doublePrecision("tat").notNull().default(0),
  /** UTC day (YYYY-MM-DD) that tokens_used counts; a new day starts from zero. */
  tokenDay: text("token_day"),
  /** Settled usage plus in-flight reservations for token_day. */
  tokensUsed: bigint("tokens_used", { mode: "number" }).notNull().default(0),
});

export type KeyLimitsRow = typeof keyLimits.$inferSelect;
