// Charging a call to a key lineage's limits inside the admission transaction: one conditional
// UPDATE over every limit row of the key and its ancestors, so concurrent processes can never
// admit past a limit. Settlement, refunds and abuse penalties are one statement too. The texts
// are fixed (prepared once per connection): they run on every model call.
import type { Rows, Statement } from "../../db/index.ts";
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

// $1 the ids of the key_limits rows a batch charges.
const LOCK_LIMITS = "select id from key_limits where id = any($1::text[]) order by id for update";

/**
 * Locks a batch's limit rows in id order before its charges run (db/batch.ts sends it first):
 * batches cannot deadlock, and each charge then sees its rows as they are, so a declined
 * charge is explained from what it read.
 */
export function lockLimits(ids: readonly string[]): Statement {
  return { text: LOCK_LIMITS, params: [ids] };
}

// $1 limit ids, $2 now (epoch ms), $3 today (UTC day), $4 tokens to reserve.
// The parameter positions are arguments so the budget-only statement below can number its own.
const tokensCountedToday = (t: string, day = "$3") =>
  `(case when ${t}.token_day = ${day}::text then ${t}.tokens_used else 0 end)`;

/** Whether row `t` has room for `tokens` more tokens on `day`. */
const budgetAdmits = (t: string, day = "$3", tokens = "$4") =>
  `(${t}.daily_tokens is null or ${tokensCountedToday(t, day)} + ${tokens}::bigint <= ${t}.daily_tokens)`;

/** Whether row `t` has a rate slot free at $2 (epoch ms): the GCRA rule of gcra.ts. */
const hasRateSlot = (t: string) =>
  `(${t}.rpm is null or greatest(${t}.tat, $2::float8) + ${WINDOW_MS}::float8 / ${t}.rpm - $2::float8 <= ${WINDOW_MS + EPSILON_MS})`;

/** Whether row `t` admits one more call: uses left, a rate slot, budget left. */
const admits = (t: string) => `(${t}.max_uses is null or ${t}.uses < ${t}.max_uses)
  and ${hasRateSlot(t)}
  and ${budgetAdmits(t)}`;

/** Every row of the lineage admits (the batch has locked them, so the count is stable). */
const lineageAdmits = (rule: (t: string) => string) =>
  `(select count(*) from key_limits lineage where lineage.id = any($1::text[]) and ${rule("lineage")}) = cardinality($1::text[])`;

// The outer select sees the rows as they were before the update (the batch holds their locks,
// so as they are): enough to say why a charge was declined without a second statement.
const chargeText = (allAdmit: string) => `with charged as (
  update key_limits set
    uses = uses + 1,
    tat = case when rpm is null then tat else greatest(tat, $2::float8) + ${WINDOW_MS}::float8 / rpm end,
    token_day = $3::text,
    tokens_used = ${tokensCountedToday("key_limits")} + $4::bigint
  where id = any($1::text[]) and ${allAdmit}
  returning id)
select (select count(*) from charged)::int as charged, l.rpm, l.tat, l.uses::float8 as uses,
  l.max_uses::float8 as max_uses
from key_limits l where l.id = any($1::text[])`;

// The batch locks the rows first (lockLimits, in id order), so counting them here sees the same rows the
// update changes; with one row the condition is simply on the row itself.
const CHARGE_ONE = chargeText(admits("key_limits"));
const CHARGE_LINEAGE = chargeText(lineageAdmits(admits));

/**
 * Charges one call to every limit row in `limitIds`, or to none of them, in one statement (so it
 * needs no savepoint to undo a partial charge). `refusal` reads its rows: null when charged.
 */
export function chargeCall(
  limitIds: readonly string[],
  charge: Charge,
): { statement: Statement; refusal(rows: Rows): LimitRefusal | null } {
  const now = charge.now.getTime();
  return {
    statement: {
      text: limitIds.length > 1 ? CHARGE_LINEAGE : CHARGE_ONE,
      params: [limitIds, now, utcDay(charge.now), charge.reserveTokens],
    },
    refusal: (rows) => ((rows[0]?.charged ?? 0) === limitIds.length ? null : diagnose(rows, charge.now)),
  };
}

/** Which limit refused, and when to retry (nothing was charged). */
function diagnose(rows: Rows, at: Date): LimitRefusal {
  const now = at.getTime();
  const limits = rows.map((r) => ({
    rpm: r.rpm as number | null,
    tat: Number(r.tat),
    uses: Number(r.uses),
    maxUses: r.max_uses === null ? null : Number(r.max_uses),
  }));
  if (limits.some((r) => r.maxUses !== null && r.uses >= r.maxUses)) return { reason: "usage_exhausted" };
  const rateWaits = limits
    .flatMap((r) => (r.rpm === null ? [] : [gcra(r.tat, now, r.rpm)]))
    .filter((d) => !d.allowed);
  if (rateWaits.length > 0) {
    return { reason: "rate_limited", retryAfterMs: Math.max(...rateWaits.map((d) => d.retryAfterMs)) };
  }
  return { reason: "budget_exhausted", retryAfterMs: msUntilNextUtcDay(at) };
}

// $1 limit ids, $2 the reservation's day, $3 tokens to give back (negative) or add, $4 penalty
// weight in calls, $5 now (epoch ms).
const SETTLE = `update key_limits set
  tokens_used = case when token_day = $2::text then greatest(0, tokens_used + $3::bigint) else tokens_used end,
  tat = case when rpm is null or $4::float8 = 0 then tat else greatest(tat, $5::float8) + $4::float8 * ${WINDOW_MS}::float8 / rpm end
where id = any($1::text[])`;

/**
 * After the call: replaces its reservation by what it used (a failed call uses 0: a refund) and
 * charges an abuse penalty (pushes the rate bucket back by `penaltyCalls` calls without a
 * check). Null when there is nothing to change.
 */
export function settleCall(
  limitIds: readonly string[],
  settlement: { day: string; reserved: number; used: number; penaltyCalls: number; now: Date },
): Statement | null {
  const delta = settlement.used - settlement.reserved;
  if (limitIds.length === 0 || (delta === 0 && settlement.penaltyCalls <= 0)) return null;
  return {
    text: SETTLE,
    params: [limitIds, settlement.day, delta, Math.max(0, settlement.penaltyCalls), settlement.now.getTime()],
  };
}

// $1 limit ids, $2 today, $3 tokens. Only the budget moves: the call already paid its use and
// its rate slot at admission.
const RESERVE_MORE = `with reserved as (
  update key_limits set
    token_day = $2::text,
    tokens_used = ${tokensCountedToday("key_limits", "$2")} + $3::bigint
  where id = any($1::text[]) and ${lineageAdmits((t) => budgetAdmits(t, "$2", "$3"))}
  returning id)
select count(*)::int as reserved from reserved`;

/**
 * Reserves `tokens` more for an admitted call on every limit row of the lineage, or on none:
 * what a model round needs beyond what the call holds. `granted` reads its rows.
 */
export function reserveMore(
  limitIds: readonly string[],
  reservation: { now: Date; tokens: number },
): { statement: Statement; granted(rows: Rows): boolean } {
  return {
    statement: {
      text: RESERVE_MORE,
      params: [limitIds, utcDay(reservation.now), reservation.tokens],
    },
    granted: (rows) => (rows[0]?.reserved ?? 0) === limitIds.length,
  };
}

// $1 limit ids, $2 now (epoch ms). The outer select sees the rows as before the update.
const TAKE_SLOT = `with taken as (
  update key_limits set tat = greatest(tat, $2::float8) + ${WINDOW_MS}::float8 / rpm
  where id = any($1::text[]) and rpm is not null and ${lineageAdmits(hasRateSlot)}
  returning id)
select (select count(*) from taken)::int as taken, l.rpm, l.tat
from key_limits l where l.id = any($1::text[])`;

/**
 * Takes one rate slot on every rate-limited row of the lineage, or on none: no use is spent and
 * no tokens are reserved (procedures that are not admitted). `retryAfterMs` reads its rows:
 * null when taken.
 */
export function takeRateSlot(
  limitIds: readonly string[],
  at: Date,
): { statement: Statement; retryAfterMs(rows: Rows): number | null } {
  const now = at.getTime();
  return {
    statement: { text: TAKE_SLOT, params: [limitIds, now] },
    retryAfterMs: (rows) => {
      const waits = rows
        .flatMap((r) => (r.rpm === null ? [] : [gcra(Number(r.tat), now, Number(r.rpm))]))
        .filter((d) => !d.allowed);
      return waits.length === 0 ? null : Math.max(1, ...waits.map((d) => d.retryAfterMs));
    },
  };
}
