// Documents the model may read, grouped by data source; access is gated by `db:<source>` scopes.
import { index, pgTable, text, timestamp, uuid } from "drizzle-orm/pg-core";

export const documents = pgTable(
  "documents",
  {
    id: uuid("id").primaryKey().defaultRandom(),
    source: text("source").notNull(),
    title: text("title").notNull(),
    body: text("body").notNull(),
    createdAt: timestamp("created_at", { withTimezone: true, mode: "date" }).notNull().defaultNow(),
  },
  // Every read is `WHERE source = ? [AND id = ?]`, after the scope check on source.
  (table) => [index("documents_source_idx").on(table.source, table.createdAt)],
);

export type DocumentRow = typeof documents.$inferSelect;
