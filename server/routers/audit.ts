// The audit log's API, for `admin:audit`: list, export, stats, verify; prune for the local
// operator only; and `trace`, any key's view of its own records of one request.
import { z } from "zod";
import { pruneAudit } from "../audit/prune.ts";
import { exportAudit, listAudit, traceOfRequest } from "../audit/query.ts";
import { auditStats } from "../audit/stats.ts";
import { verifyAudit } from "../audit/verify.ts";
import type { Context } from "../context.ts";
import { withDatabase } from "../db-errors.ts";
import { fail } from "../errors.ts";
import { keyId, ownerName } from "../keys/schemas.ts";
import { nothingAudited, router, scopedProcedure } from "../trpc.ts";

const timestamp = z.iso.datetime({ offset: true });
const DAY_SECONDS = 86_400;

export const auditListInput = z.strictObject({
  keyId: z.union([keyId, z.literal("local-cli")]).optional(),
  owner: ownerName.optional(),
  outcome: z.enum(["ok", "denied", "rejected", "error"]).optional(),
  procedure: z.string().max(100).optional(),
  phase: z.enum(["admitted", "final", "event"]).optional(),
  since: timestamp.optional(),
  until: timestamp.optional(),
  limit: z.number().int().min(1).max(1000).default(100),
  cursor: z.number().int().min(1).optional(),
});

export const auditExportInput = z.strictObject({
  since: timestamp.optional(),
  until: timestamp.optional(),
  afterId: z.number().int().min(0).optional(),
  limit: z.number().int().min(1).max(5000).default(1000),
  /** Leave out the caller's own `audit.export` calls (so `audit tail` does not follow itself). */
  excludeOwnExports: z.boolean().default(false),
});

export const auditStatsInput = z.strictObject({ since: timestamp });

export const auditTraceInput = z.strictObject({
  requestId: z.string().regex(/^req_[A-Za-z0-9_-]{1,64}$/, "a request id: req_…"),
});

export const auditPruneInput = z.strictObject({
  olderThanSeconds: z.number().int().min(1),
});

const dateOf = (text: string | undefined) => (text === undefined ? undefined : new Date(text));

function verifyLog(ctx: Context) {
  return verifyAudit(ctx.database.db, {
    auditKeys: ctx.config.auditKey,
    publicKeys: ctx.config.audit.verifyKeys,
    dir: ctx.config.audit.dir,
  });
}

export const auditRouter = router({
  // Any valid key may read what its own calls left in the log (like whoami, free of charge):
  // how far each got through the pipeline and the ids of its records.
  trace: scopedProcedure({ scopes: [], input: auditTraceInput, admit: false }).query(
    async ({ ctx, input }) => ({
      requestId: input.requestId,
      records: await withDatabase(() =>
        traceOfRequest(ctx.database.db, ctx.principal.keyId, input.requestId, ctx.clock.now()),
      ),
    }),
    nothingAudited,
  ),
  list: scopedProcedure({ scopes: ["admin:audit"], input: auditListInput }).query(
    ({ ctx, input }) =>
      withDatabase(() =>
        listAudit(ctx.database.db, { ...input, since: dateOf(input.since), until: dateOf(input.until) }),
      ),
    nothingAudited,
  ),
  export: scopedProcedure({ scopes: ["admin:audit"], input: auditExportInput }).query(
    ({ ctx, input }) =>
      withDatabase(() =>
        exportAudit(ctx.database.db, {
          ...input,
          since: dateOf(input.since),
          until: dateOf(input.until),
          excludeExportsBy: input.excludeOwnExports ? ctx.principal.keyId : undefined,
        }),
      ),
    nothingAudited,
  ),
  stats: scopedProcedure({ scopes: ["admin:audit"], input: auditStatsInput }).query(
    ({ ctx, input }) => withDatabase(() => auditStats(ctx.database.db, new Date(input.since))),
    nothingAudited,
  ),
  // Reads the whole log a page at a time: no request deadline, each statement is bounded.
  verify: scopedProcedure({ scopes: ["admin:audit"], input: z.strictObject({}) }).query(
    ({ ctx }) => verifyLog(ctx),
    nothingAudited,
  ),
  prune: scopedProcedure({ scopes: ["admin:audit"], input: auditPruneInput }).mutation(
    async ({ ctx, input }) => {
      // Deleting evidence is the one audit action no API key may take, whatever it holds.
      if (ctx.principal.kind !== "local-cli") {
        fail("FORBIDDEN", "operator_only", "Only the local operator may prune the audit log.");
      }
      const minimum = ctx.config.audit.minRetentionDays * DAY_SECONDS;
      if (input.olderThanSeconds < minimum) {
        fail(
          "BAD_REQUEST",
          "invalid_input",
          `Records younger than the configured minimum retention (${ctx.config.audit.minRetentionDays} days) are kept.`,
        );
      }
      const sink = ctx.audit.checkpointSink;
      if (!sink) fail("PRECONDITION_FAILED", "audit_tampered", "Pruning needs the audit signing key.");
      // Pruning a tampered log would launder the evidence: verify first.
      const report = await verifyLog(ctx);
      const first = report.problems[0];
      if (first) {
        fail(
          "PRECONDITION_FAILED",
          "audit_tampered",
          `The audit log does not verify (${first.kind} at record ${first.recordId ?? "-"}); nothing was pruned.`,
        );
      }
      const now = ctx.clock.now();
      const cutoff = new Date(now.getTime() - input.olderThanSeconds * 1000);
      const result = await pruneAudit(ctx.database.db, sink, cutoff, now);
      const summary = { cutoff: cutoff.toISOString(), deleted: result.deleted, chains: result.chains };
      await withDatabase(() =>
        ctx.audit.append({
          phase: "event",
          requestId: ctx.request.requestId,
          callId: ctx.call.callId,
          keyId: ctx.principal.keyId,
          owner: ctx.principal.owner,
          procedure: "audit.prune",
          outcome: "ok",
          reason: "audit_pruned",
          clientAddress: ctx.request.clientAddress,
          details: summary,
        }),
      );
      return summary;
    },
    (summary) => ({ output: null, details: { cutoff: summary.cutoff, deleted: summary.deleted } }),
  ),
});
