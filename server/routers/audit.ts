// Reading the audit log, for `admin:audit`.
import { z } from "zod";
import { listAudit } from "../audit/query.ts";
import { withDatabase } from "../db-errors.ts";
import { keyId, ownerName } from "../keys/schemas.ts";
import { router, scopedProcedure } from "../trpc.ts";

export const auditListInput = z.strictObject({
  keyId: z.union([keyId, z.literal("local-cli")]).optional(),
  owner: ownerName.optional(),
  outcome: z.enum(["ok", "denied", "rejected", "error"]).optional(),
  procedure: z.string().max(100).optional(),
  phase: z.enum(["admitted", "final", "event"]).optional(),
  since: z.iso.datetime({ offset: true }).optional(),
  until: z.iso.datetime({ offset: true }).optional(),
  limit: z.number().int().min(1).max(1000).default(100),
  cursor: z.number().int().min(1).optional(),
});

export const auditRouter = router({
  list: scopedProcedure({ scopes: ["admin:audit"], input: auditListInput }).query(({ ctx, input }) =>
    withDatabase(() =>
      listAudit(ctx.database.db, {
        ...input,
        since: input.since ? new Date(input.since) : undefined,
        until: input.until ? new Date(input.until) : undefined,
      }),
    ),
  ),
});
