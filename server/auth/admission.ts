// Admission: a call is charged to its key and every ancestor — a use, a rate-bucket slot and a
// token reservation — and its `admitted` audit record written, in one transaction. After the
// call, the reservation is settled (or refunded) and guard penalties charged, in the same
// transaction as the call's `final` record.
import type { AuditRecord } from "../audit/record.ts";
import { Declined } from "../audit/writer.ts";
import type { Context } from "../context.ts";
import { fail } from "../errors.ts";
import { utcDay } from "../limits/gcra.ts";
import { chargeCall, chargePenalty, type LimitRefusal, settleTokens } from "../limits/metering.ts";
import type { CallState } from "../trpc.ts";
import type { Principal } from "./principal.ts";

/** Rate-bucket penalty, in calls, for a prompt the guard blocked or flagged (best-of-N attacks run dry). */
export const GUARD_PENALTY = { block: 4, flag: 1 } as const;

export async function admit(
  ctx: Context & { call: CallState },
  principal: Principal,
  admittedRecord: AuditRecord,
  reserveTokens: number,
): Promise<void> {
  const now = ctx.clock.now();
  const limitIds = principal.limitIds;
  // The writer bounds the commit by the database deadline and fails closed.
  const started = performance.now();
  const outcome = await ctx.audit
    .appendWith(
      [admittedRecord],
      limitIds,
      async (tx) => {
        const refusal = await chargeCall(tx, limitIds, { now, reserveTokens });
        return refusal ? new Declined(refusal) : null;
      },
      // One all-or-nothing UPDATE: pipelined with the batch's other charges, no savepoint.
      { atomic: true },
    )
    .finally(() => ctx.metrics.observeStage("admit", (performance.now() - started) / 1000));
  if (outcome instanceof Declined) refuse(outcome.value);
  if (principal.kind === "key") ctx.lastUsed.touch(principal.keyId, now);

  const day = utcDay(now);
  ctx.call.settlement = {
    lockIds: limitIds,
    run: async (tx) => {
      const used = ctx.call.usage ? ctx.call.usage.inputTokens + ctx.call.usage.outputTokens : 0;
      await settleTokens(tx, limitIds, { day, reserved: reserveTokens, used });
      const verdict = ctx.call.guardVerdict;
      if (verdict === "block" || verdict === "flag") {
        await chargePenalty(tx, limitIds, ctx.clock.now(), GUARD_PENALTY[verdict]);
      }
    },
  };
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
