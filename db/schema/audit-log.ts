// Append-only audit records, one hash chain per writer process (writer_id, seq) so several
// processes append without a shared lock and every chain verifies on its own; and the signed
// checkpoints of those chains (also written outside the database, see server/audit/checkpoint.ts).
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
  // Sized for tens of millions of rows: every query the API offers is an index range scan that
  // stops after one page, never a scan of the table.
  (table) => [
    // verify walks each chain in seq order, prune deletes a chain's prefix, and the pair
    // enforces that a writer never reuses a position.
    uniqueIndex("audit_log_writer_seq_idx").on(table.writerId, table.seq),
    // `audit list --key K [--since/--until]`, newest first, paged by (ts, id): the key's range
    // is read backwards from `until` and stops after one page however many rows the key has.
    index("audit_log_key_ts_idx").on(table.keyId, table.ts, table.id),
    // The same for `--owner` (a team's keys together).
    index("audit_log_owner_ts_idx").on(table.owner, table.ts, table.id),
    // Time range alone (list without key/owner, tail, export, stats --since 1h, prune's cut):
    // a recent window is a small slice at the end of this index.
    index("audit_log_ts_idx").on(table.ts, table.id),
    // One call's admitted/final/event records together (completeness checks, spool replay).
    index("audit_log_call_id_idx").on(table.callId),
  ],
);

/**
 * Signed checkpoints: (writer, seq, head hash) signed with the Ed25519 audit signing key, which
 * is never stored here. A copy in the database lets any process verify any chain; the copy in
 * the data dir's append-only file is what a database-only attacker cannot remove.
 */
export const auditCheckpoints = pgTable(
  "audit_checkpoints",
  {
    id: bigserial("id", { mode: "number" }).primaryKey(),
    writerId: text("writer_id").notNull(),
    seq: bigint("seq", { mode: "number" }).notNull(),
    kind: text("kind", { enum: ["periodic", "final", "prune"] }).notNull(),
    /** The exact signed bytes (canonical JSON); verification parses this, not the columns. */
    body: text("body").notNull(),
    signature: text("signature").notNull(),
    createdAt: timestamp("created_at", { withTimezone: true, mode: "date" }).notNull().defaultNow(),
  },
  // verify reads the latest checkpoints of each writer; prune removes those it superseded.
  (table) => [index("audit_checkpoints_writer_seq_idx").on(table.writerId, table.seq)],
);

export type AuditRow = typeof auditLog.$inferSelect;
export type NewAuditRow = typeof auditLog.$inferInsert;
export type AuditCheckpointRow = typeof auditCheckpoints.$inferSelect;
