// Document management for `admin:documents`; each source also needs its `db:<source>` scope.
import { z } from "zod";
import { dataSourceScope } from "../auth/scopes.ts";
import { withDatabase } from "../db-errors.ts";
import { sourceName } from "../documents/schemas.ts";
import { addDocument, listDocuments, removeDocument } from "../documents/store.ts";
import { fail } from "../errors.ts";
import { credentialFree } from "../guard/credential-free.ts";
import { router, scopedProcedure } from "../trpc.ts";

const addDocumentInput = z.strictObject({
  source: sourceName,
  title: credentialFree(z.string().trim().min(1).max(200)),
  body: credentialFree(z.string().min(1).max(200_000)),
});

export const documentsRouter = router({
  add: scopedProcedure({
    scopes: ["admin:documents"],
    input: addDocumentInput,
    inputScopes: (input) => [dataSourceScope(input.source)],
  }).mutation(async ({ ctx, input }) => {
    const doc = await withDatabase(() => addDocument(ctx.database.db, input));
    ctx.call.auditOutput = JSON.stringify(doc);
    return doc;
  }),

  list: scopedProcedure({
    scopes: ["admin:documents"],
    input: z.strictObject({
      source: sourceName.optional(),
      limit: z.number().int().min(1).max(1000).default(100),
    }),
    inputScopes: (input) => (input.source ? [dataSourceScope(input.source)] : []),
  }).query(async ({ ctx, input }) => {
    const held = ctx.principal.scopes;
    // Without a source, only the sources this key holds are listed.
    const sources = input.source
      ? [input.source]
      : held.includes("db:*")
        ? null
        : held.filter((s) => s.startsWith("db:")).map((s) => s.slice(3));
    const rows = await withDatabase(() => listDocuments(ctx.database.db, sources, input.limit));
    return rows.map((r) => ({ ...r, createdAt: r.createdAt.toISOString() }));
  }),

  remove: scopedProcedure({
    scopes: ["admin:documents"],
    input: z.strictObject({ source: sourceName, id: z.uuid() }),
    inputScopes: (input) => [dataSourceScope(input.source)],
  }).mutation(async ({ ctx, input }) => {
    const removed = await withDatabase(() => removeDocument(ctx.database.db, input.source, input.id));
    if (!removed) fail("NOT_FOUND", "not_found", `No document ${input.id} in source ${input.source}.`);
    return { id: input.id, source: input.source, removed: true };
  }),
});
