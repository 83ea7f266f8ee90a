// Append-only audit records, one hash chain per writer process (writer_id, seq) so several
// processes append without a shared lock and every chain verifies on its own.
import {
  bigint,
  bigserial,
  index,
  integer,
  jsonb,
  pgTable,
  text,
  timestamp,
  uniqueIndex,
} from "drizzle-orm/pg-core";

export const auditLog = pgTable(
  "audit_log",
  {
    id: bigserial("id", { mode: "number" }).primaryKey(),
    writerId: text("writer_id").notNull(),
    seq: bigint("seq", { mode: "number" }).notNull(),
    ts: timestamp("ts", { withTimezone: true, mode: "date" }).notNull(),
    callId: text("call_id"),
    requestId: text("request_id").notNull(),
    phase: text("phase", { enum: ["admitted", "final", "event"] }).notNull(),
    keyId: text("key_id"),
    keyFingerprint: text("key_fingerprint"),
    owner: text("owner"),
    endUser: text("end_user"),
    procedure: text("procedure"),
    scopes: text("scopes").array(),
    outcome: text("outcome", { enum: ["ok", "denied", "rejected", "error"] }),
    reason: text("reason"),
    input: text("input"),
    output: text("output"),
    redactions: text("redactions").array(),
    flags: text("flags").array(),
    model: text("model"),
    inputTokens: integer("input_tokens"),
    outputTokens: integer("output_tokens"),
    latencyMs: integer("latency_ms"),
    clientAddress: text("client_address"),
    count: integer("count").notNull().default(1),
    details: jsonb("details"),
    prevHash: text("prev_hash").notNull(),
    hash: text("hash").notNull(),
  },
  (table) => [
    uniqueIndex("audit_log_writer_seq_idx").on(table.writerId, table.seq),
    // audit list filters by key or owner, newest first, paged by id.
    index("audit_log_key_id_idx").on(table.keyId, table.id),
    index("audit_log_owner_idx").on(table.owner, table.id),
    index("audit_log_ts_idx").on(table.ts),
    index("audit_log_call_id_idx").on(table.callId),
  ],
);

export type AuditRow = typeof auditLog.$inferSelect;
export type NewAuditRow = typeof auditLog.$inferInsert;
