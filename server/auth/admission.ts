// Admission: a call's use is charged to its key and every ancestor, and its `admitted` audit
// record written, in one transaction. Charges are conditional single-statement updates, so
// concurrent processes can never push a key past its limits.
import { and, inArray, isNull, lt, or, sql } from "drizzle-orm";
import { apiKeys } from "../../db/index.ts";
import type { AuditRecord } from "../audit/record.ts";
import { Declined } from "../audit/writer.ts";
import type { Context } from "../context.ts";
import { withDatabase } from "../db-errors.ts";
import { fail } from "../errors.ts";
import type { Principal } from "./principal.ts";

export async function admit(ctx: Context, principal: Principal, admittedRecord: AuditRecord): Promise<void> {
  const chargeTo = principal.chargeTo;
  const outcome = await withDatabase(() =>
    ctx.audit.appendWith([admittedRecord], chargeTo, async (tx) => {
      if (chargeTo.length === 0) return null;
      const charged = await tx
        .update(apiKeys)
        .set({ uses: sql`${apiKeys.uses} + 1` })
        .where(
          and(
            inArray(apiKeys.id, chargeTo),
            or(isNull(apiKeys.maxUses), lt(apiKeys.uses, apiKeys.maxUses)),
            isNull(apiKeys.revokedAt),
          ),
        )
        .returning({ id: apiKeys.id });
      // Every key in the lineage must accept the charge, or none is charged.
      return charged.length === chargeTo.length ? null : new Declined("usage_exhausted" as const);
    }),
  );
  if (outcome instanceof Declined) fail("UNAUTHORIZED", outcome.value, "This API key has no uses left.");
}
