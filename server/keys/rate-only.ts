// The rate bucket on its own, for every scoped procedure that is not admitted (`keys.whoami`,
// `documents.browse`, `audit.trace`): one slot of every rate-limited row of the key's lineage,
// or of none of them.
// No use is spent (asking about a one-time key must not burn it) and no tokens are reserved.
import { Declined, type FixedStep, type Rows, type Statement } from "../../db/index.ts";
import type { Principal } from "../auth/principal.ts";
import type { Context } from "../context.ts";
import { fail } from "../errors.ts";
import { EPSILON_MS, gcra, WINDOW_MS } from "../limits/gcra.ts";

/** Whether row `t` has a rate slot free at $2 (epoch ms): the GCRA rule of gcra.ts. */
const hasSlot = (t: string) =>
  `(${t}.rpm is null or greatest(${t}.tat, $2::float8) + ${WINDOW_MS}::float8 / ${t}.rpm - $2::float8 <= ${WINDOW_MS + EPSILON_MS})`;

// $1 limit ids, $2 now (epoch ms). The batcher locks the rows first (Postgres), so the count and
// the update see the same rows; the outer select sees them as before the update.
const TAKE_SLOT = `with taken as (
  update key_limits set tat = greatest(tat, $2::float8) + ${WINDOW_MS}::float8 / rpm
  where id = any($1::text[]) and rpm is not null
    and (select count(*) from key_limits l where l.id = any($1::text[]) and ${hasSlot("l")}) = cardinality($1::text[])
  returning id)
select (select count(*) from taken)::int as taken, l.rpm, l.tat
from key_limits l where l.id = any($1::text[])`;

/** Takes one rate slot for the principal's lineage, or refuses `rate_limited` (nothing taken). */
export async function takeRateSlot(ctx: Context, principal: Principal): Promise<void> {
  if (principal.kind !== "key" || principal.limitIds.length === 0) return;
  const now = ctx.clock.now().getTime();
  const statement: Statement = { text: TAKE_SLOT, params: [principal.limitIds, now] };
  const step: FixedStep<Declined<number> | null> = {
    statement,
    lockIds: principal.limitIds,
    outcome: (rows) => (allHadSlot(rows, now) ? null : new Declined(retryAfter(rows, now))),
  };
  // No record of its own: the call's final record says what happened.
  const refused = await ctx.audit.appendWith([], step);
  if (refused instanceof Declined) {
    fail("TOO_MANY_REQUESTS", "rate_limited", "Rate limit reached for this key.", {
      retryAfterMs: refused.value,
    });
  }
}

function allHadSlot(rows: Rows, now: number): boolean {
  return rows.every((r) => r.rpm === null || gcra(Number(r.tat), now, Number(r.rpm)).allowed);
}

function retryAfter(rows: Rows, now: number): number {
  const waits = rows.flatMap((r) => (r.rpm === null ? [] : [gcra(Number(r.tat), now, Number(r.rpm))]));
  return Math.max(1, ...waits.filter((d) => !d.allowed).map((d) => d.retryAfterMs));
}
