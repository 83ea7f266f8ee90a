// Charging a call to a key lineage's limits inside the admission transaction: one conditional
// UPDATE over every limit row of the key and its ancestors, so concurrent processes can never
// admit past a limit. Settlement, refunds and abuse penalties are single statements too.
import { inArray, type SQL, sql } from "drizzle-orm";
import { alias } from "drizzle-orm/pg-core";
import { type Database, keyLimits } from "../../db/index.ts";
import { EPSILON_MS, gcra, msUntilNextUtcDay, utcDay, WINDOW_MS } from "./gcra.ts";

export type LimitRefusal =
  | { reason: "usage_exhausted" }
  | { reason: "rate_limited"; retryAfterMs: number }
  | { reason: "budget_exhausted"; retryAfterMs: number };

export interface Charge {
  now: Date;
  /** Tokens reserved before the model call (input estimate plus output cap); 0 for non-model calls. */
  reserveTokens: number;
}

const lineage = alias(keyLimits, "lineage");
type LimitsTable = typeof keyLimits | typeof lineage;

const tokensCountedToday = (t: LimitsTable, today: string): SQL =>
  sql`(case when ${t.tokenDay} = ${today} then ${t.tokensUsed} else 0 end)`;

/** Whether row `t` admits one more call: uses left, the GCRA rule of gcra.ts, budget left. */
function admits(t: LimitsTable, now: number, today: string, reserve: number): SQL {
  return sql`(${t.maxUses} is null or ${t.uses} < ${t.maxUses})
    and (${t.rpm} is null or greatest(${t.tat}, ${now}) + ${WINDOW_MS}::float8 / ${t.rpm} - ${now} <= ${WINDOW_MS + EPSILON_MS})
    and (${t.dailyTokens} is null or ${tokensCountedToday(t, today)} + ${reserve} <= ${t.dailyTokens})`;
}

/**
 * Charges one call to every limit row in `limitIds`, or to none of them, in one statement (so it
 * needs no savepoint to undo a partial charge); returns why not. With several rows the writer
 * holds their locks already, so the count and the update see the same rows.
 */
export async function chargeCall(
  tx: Database,
  limitIds: readonly string[],
  charge: Charge,
): Promise<LimitRefusal | null> {
  if (limitIds.length === 0) return null;
  const now = charge.now.getTime();
  const today = utcDay(charge.now);
  const ids = [...limitIds];
  const allAdmit =
    ids.length === 1
      ? admits(keyLimits, now, today, charge.reserveTokens)
      : sql`(select count(*) from ${keyLimits} as ${sql.identifier("lineage")} where ${inArray(lineage.id, ids)} and ${admits(lineage, now, today, charge.reserveTokens)}) = ${ids.length}`;
  const charged = await tx
    .update(keyLimits)
    .set({
      uses: sql`${keyLimits.uses} + 1`,
      tat: sql`case when ${keyLimits.rpm} is null then ${keyLimits.tat} else greatest(${keyLimits.tat}, ${now}) + ${WINDOW_MS}::float8 / ${keyLimits.rpm} end`,
      tokenDay: today,
      tokensUsed: sql`${tokensCountedToday(keyLimits, today)} + ${charge.reserveTokens}`,
    })
    .where(sql`${inArray(keyLimits.id, ids)} and ${allAdmit}`)
    .returning({ id: keyLimits.id });
  if (charged.length === ids.length) return null;
  return diagnose(tx, limitIds, charge);
}

/** Which limit refused, and when to retry (nothing was charged; read under the same locks). */
async function diagnose(tx: Database, limitIds: readonly string[], charge: Charge): Promise<LimitRefusal> {
  const rows = await tx
    .select()
    .from(keyLimits)
    .where(inArray(keyLimits.id, [...limitIds]));
  const now = charge.now.getTime();
  if (rows.some((r) => r.maxUses !== null && r.uses >= r.maxUses)) return { reason: "usage_exhausted" };
  const rateWaits = rows
    .flatMap((r) => (r.rpm === null ? [] : [gcra(r.tat, now, r.rpm)]))
    .filter((d) => !d.allowed);
  if (rateWaits.length > 0) {
    return { reason: "rate_limited", retryAfterMs: Math.max(...rateWaits.map((d) => d.retryAfterMs)) };
  }
  return { reason: "budget_exhausted", retryAfterMs: msUntilNextUtcDay(charge.now) };
}

/** Replaces a call's reservation by what it actually used (a failed call uses 0: a refund). */
export async function settleTokens(
  tx: Database,
  limitIds: readonly string[],
  charged: { day: string; reserved: number; used: number },
): Promise<void> {
  const delta = charged.used - charged.reserved;
  if (limitIds.length === 0 || delta === 0) return;
  await tx
    .update(keyLimits)
    .set({ tokensUsed: sql`greatest(0, ${keyLimits.tokensUsed} + ${delta})` })
    .where(sql`${inArray(keyLimits.id, [...limitIds])} and ${keyLimits.tokenDay} = ${charged.day}`);
}

/** Abuse penalty: pushes the rate bucket back by `weight` calls without a check. */
export async function chargePenalty(
  tx: Database,
  limitIds: readonly string[],
  now: Date,
  weight: number,
): Promise<void> {
  if (limitIds.length === 0 || weight <= 0) return;
  const at = now.getTime();
  await tx
    .update(keyLimits)
    .set({
      tat: sql`greatest(${keyLimits.tat}, ${at}) + ${weight} * ${WINDOW_MS}::float8 / ${keyLimits.rpm}`,
    })
    .where(sql`${inArray(keyLimits.id, [...limitIds])} and ${keyLimits.rpm} is not null`);
}
