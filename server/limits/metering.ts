// Charging a call to a key lineage's limits inside the admission transaction: one conditional
// UPDATE over every limit row of the key and its ancestors, so concurrent processes can never
// admit past a limit. Settlement, refunds and abuse penalties are single statements too.
import { inArray, type SQL, sql } from "drizzle-orm";
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

// `greatest(tat, now) + 60000/rpm - now <= 60000`: the GCRA rule of gcra.ts.
const rateAllows = (now: number): SQL =>
  sql`(${keyLimits.rpm} is null or greatest(${keyLimits.tat}, ${now}) + ${WINDOW_MS}::float8 / ${keyLimits.rpm} - ${now} <= ${WINDOW_MS + EPSILON_MS})`;
const tokensCountedToday = (today: string): SQL =>
  sql`(case when ${keyLimits.tokenDay} = ${today} then ${keyLimits.tokensUsed} else 0 end)`;

/** Charges one call to every limit row in `limitIds`, or none of them; returns why not. */
export async function chargeCall(
  tx: Database,
  limitIds: readonly string[],
  charge: Charge,
): Promise<LimitRefusal | null> {
  if (limitIds.length === 0) return null;
  const now = charge.now.getTime();
  const today = utcDay(charge.now);
  const charged = await tx
    .update(keyLimits)
    .set({
      uses: sql`${keyLimits.uses} + 1`,
      tat: sql`case when ${keyLimits.rpm} is null then ${keyLimits.tat} else greatest(${keyLimits.tat}, ${now}) + ${WINDOW_MS}::float8 / ${keyLimits.rpm} end`,
      tokenDay: today,
      tokensUsed: sql`${tokensCountedToday(today)} + ${charge.reserveTokens}`,
    })
    .where(
      sql`${inArray(keyLimits.id, [...limitIds])}
        and (${keyLimits.maxUses} is null or ${keyLimits.uses} < ${keyLimits.maxUses})
        and ${rateAllows(now)}
        and (${keyLimits.dailyTokens} is null or ${tokensCountedToday(today)} + ${charge.reserveTokens} <= ${keyLimits.dailyTokens})`,
    )
    .returning({ id: keyLimits.id });
  if (charged.length === limitIds.length) return null;
  return diagnose(tx, limitIds, charge);
}

/** Which limit refused, and when to retry (read under the same locks, before rollback). */
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
