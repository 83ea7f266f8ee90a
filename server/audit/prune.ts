// Retention: deletes a prefix of every chain older than a cut-off, after signing a `prune`
// checkpoint at the last deleted record, so what remains still verifies from that anchor.
import { and, eq, lt, sql } from "drizzle-orm";
import { auditCheckpoints, auditLog, type Database } from "../../db/index.ts";
import type { CheckpointSink } from "./checkpoint.ts";

export interface PrunedChain {
  writerId: string;
  throughSeq: number;
  deleted: number;
}

// Deleting in slices keeps each transaction (and its lock and WAL burst) small on a big log.
const DELETE_SLICE = 10_000;

/**
 * For each chain, deletes records 1..S where S is the last record before the first one at or
 * after `cutoff` (a chain is pruned as a prefix, never with holes). The prune checkpoint is
 * written before the delete: a crash in between leaves an anchor that simply is not needed yet.
 */
export async function pruneAudit(
  db: Database,
  sink: CheckpointSink,
  cutoff: Date,
  now: Date,
): Promise<{ deleted: number; chains: PrunedChain[] }> {
  const cutoffText = cutoff.toISOString();
  const plans = await db
    .select({
      writerId: auditLog.writerId,
      first: sql<number>`min(${auditLog.seq})`.mapWith(Number),
      last: sql<number>`max(${auditLog.seq})`.mapWith(Number),
      keepFrom: sql<
        number | null
      >`min(${auditLog.seq}) filter (where ${auditLog.ts} >= ${cutoffText}::timestamptz)`,
    })
    .from(auditLog)
    .groupBy(auditLog.writerId);
  const chains: PrunedChain[] = [];
  let deleted = 0;
  for (const plan of plans) {
    const throughSeq = plan.keepFrom === null ? plan.last : Number(plan.keepFrom) - 1;
    if (throughSeq < plan.first) continue;
    const [anchor] = await db
      .select({ hash: auditLog.hash })
      .from(auditLog)
      .where(and(eq(auditLog.writerId, plan.writerId), eq(auditLog.seq, throughSeq)));
    if (!anchor) continue;
    await sink.write("prune", plan.writerId, throughSeq, anchor.hash, now);
    let removed = 0;
    for (let from = plan.first; from <= throughSeq; from += DELETE_SLICE) {
      const to = Math.min(throughSeq, from + DELETE_SLICE - 1);
      const rows = await db
        .delete(auditLog)
        .where(and(eq(auditLog.writerId, plan.writerId), sql`${auditLog.seq} between ${from} and ${to}`))
        .returning({ id: auditLog.id });
      removed += rows.length;
    }
    // Checkpoints inside the deleted prefix vouch for nothing that is left (the files keep them).
    await db
      .delete(auditCheckpoints)
      .where(and(eq(auditCheckpoints.writerId, plan.writerId), lt(auditCheckpoints.seq, throughSeq)));
    chains.push({ writerId: plan.writerId, throughSeq, deleted: removed });
    deleted += removed;
  }
  return { deleted, chains };
}
