// The rate bucket on its own, for every scoped procedure that is not admitted (`keys.whoami`,
// `documents.browse`, `audit.trace`): one slot of every rate-limited row of the key's lineage,
// or of none of them.
// No use is spent (asking about a one-time key must not burn it) and no tokens are reserved.
import { Declined } from "../../db/index.ts";
import type { Principal } from "../auth/principal.ts";
import type { Context } from "../context.ts";
import { fail } from "../errors.ts";
import { takeRateSlot as takeSlot } from "../limits/metering.ts";

/** Takes one rate slot for the principal's lineage, or refuses `rate_limited` (nothing taken). */
export async function takeRateSlot(ctx: Context, principal: Principal): Promise<void> {
  if (principal.kind !== "key" || principal.limitIds.length === 0) return;
  const slot = takeSlot(principal.limitIds, ctx.clock.now());
  // No record of its own: the call's final record says what happened.
  const refused = await ctx.audit.appendWith([], {
    statement: slot.statement,
    lockIds: principal.limitIds,
    outcome: (rows) => {
      const wait = slot.retryAfterMs(rows);
      return wait === null ? null : new Declined(wait);
    },
  });
  if (refused instanceof Declined) {
    fail("TOO_MANY_REQUESTS", "rate_limited", "Rate limit reached for this key.", {
      retryAfterMs: refused.value,
    });
  }
}
