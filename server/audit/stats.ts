// `audit stats`: what happened since a time, at a glance — final records by outcome and reason,
// and the keys and addresses with the most denied attempts. Counts honour aggregated flood
// records (`count`), so a flood shows at its real size.
import { and, desc, eq, gte, sql } from "drizzle-orm";
import { auditLog, type Database } from "../../db/index.ts";

const TOP = 10;

export async function auditStats(db: Database, since: Date) {
  const window = and(gte(auditLog.ts, since), eq(auditLog.phase, "final"));
  const denied = and(window, eq(auditLog.outcome, "denied"));
  const total = sql<number>`sum(${auditLog.count})`.mapWith(Number);
  // An unknown key has no key id; its keyed fingerprint still groups repeated attempts.
  const keyLabel = sql<string>`coalesce(${auditLog.keyId}, 'fingerprint:' || ${auditLog.keyFingerprint}, '-')`;
  const [byOutcome, byReason, topKeys, topAddresses] = await Promise.all([
    db
      .select({ outcome: auditLog.outcome, count: total })
      .from(auditLog)
      .where(window)
      .groupBy(auditLog.outcome)
      .orderBy(desc(total)),
    db
      .select({ outcome: auditLog.outcome, reason: auditLog.reason, count: total })
      .from(auditLog)
      .where(and(window, sql`${auditLog.reason} is not null`))
      .groupBy(auditLog.outcome, auditLog.reason)
      .orderBy(desc(total)),
    db
      .select({ key: keyLabel, count: total })
      .from(auditLog)
      .where(denied)
      .groupBy(keyLabel)
      .orderBy(desc(total))
      .limit(TOP),
    db
      .select({ address: sql<string>`coalesce(${auditLog.clientAddress}, '-')`, count: total })
      .from(auditLog)
      .where(denied)
      .groupBy(sql`coalesce(${auditLog.clientAddress}, '-')`)
      .orderBy(desc(total))
      .limit(TOP),
  ]);
  return {
    since: since.toISOString(),
    byOutcome,
    byReason,
    topDeniedKeys: topKeys,
    topDeniedAddresses: topAddresses,
  };
}
