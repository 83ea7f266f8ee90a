// Admission: a call is charged to its key and every ancestor — a use, a rate-bucket slot and a
// token reservation — and its `admitted` audit record written, in one transaction; the call gets
// the token budget its model rounds draw on. After the call, the reservation is settled to what
// the rounds were charged (never more) and guard penalties charged, in the same transaction as
// the call's `final` record.
import { Declined } from "../../db/index.ts";
import type { AuditRecord } from "../audit/record.ts";
import type { AuthorizedContext } from "../context.ts";
import { fail } from "../errors.ts";
import { chargeCall, type LimitRefusal, reserveMore } from "../limits/metering.ts";
import { CallBudget } from "../limits/token-budget.ts";

/** Rate-bucket penalty, in calls, for a prompt the guard blocked or flagged (best-of-N attacks run dry). */
export const GUARD_PENALTY = { block: 4, flag: 1 } as const;

/** Charges and records the call; returns its budget (or refuses: nothing charged). */
export async function admit(
  ctx: AuthorizedContext,
  admittedRecord: AuditRecord,
  reserveTokens: number,
): Promise<CallBudget> {
  const principal = ctx.principal;
  const now = ctx.clock.now();
  const limitIds = principal.limitIds;
  const charge = chargeCall(limitIds, { now, reserveTokens });
  // The writer bounds the commit by the database deadline and fails closed.
  const started = performance.now();
  const refusal = await ctx.audit
    .appendWith([admittedRecord], {
      statement: charge.statement,
      lockIds: limitIds,
      outcome: (rows) => {
        const refused = charge.refusal(rows);
        return refused ? new Declined(refused) : null;
      },
    })
    .finally(() => ctx.metrics.observeStage("admit", (performance.now() - started) / 1000));
  if (refusal instanceof Declined) refuse(refusal.value);
  if (principal.kind === "key") ctx.lastUsed.touch(principal.keyId, now);

  // Every model round draws on this budget (model-call.ts): a round the reservation cannot
  // cover reserves more on the lineage first, through the writer so limit rows are locked in
  // the same order as every other charge.
  const budget = new CallBudget({
    limitIds,
    reserved: reserveTokens,
    now,
    clock: () => ctx.clock.now(),
    reserveMore: async (tokens, at) => {
      if (limitIds.length === 0) return true;
      const more = reserveMore(limitIds, { now: at, tokens });
      return ctx.audit.appendWith([], {
        statement: more.statement,
        lockIds: limitIds,
        outcome: more.granted,
      });
    },
  });
  ctx.call.admitted((verdict) => {
    const statement = budget.settlement(
      verdict === "block" || verdict === "flag" ? GUARD_PENALTY[verdict] : 0,
    );
    return statement && { statement, lockIds: limitIds };
  });
  return budget;
}

function refuse(refusal: LimitRefusal): never {
  if (refusal.reason === "usage_exhausted") {
    fail("UNAUTHORIZED", "usage_exhausted", "This API key has no uses left.");
  }
  const message =
    refusal.reason === "rate_limited"
      ? "Rate limit reached for this key."
      : "The key's daily token budget is used up.";
  fail("TOO_MANY_REQUESTS", refusal.reason, message, { retryAfterMs: refusal.retryAfterMs });
}
