// Document management for `admin:documents`; each source also needs its `db:<source>` scope.
// `browse` lists ids and titles to any key that may read the source (`db:<source>`).
import { z } from "zod";
import { dataSourceScope } from "../auth/scopes.ts";
import { withDatabase, withDatabaseTransaction } from "../db-errors.ts";
import { sourceName } from "../documents/schemas.ts";
import { addDocument, listDocuments, removeDocument } from "../documents/store.ts";
import { fail } from "../errors.ts";
import { credentialFree } from "../guard/credential-free.ts";
import { nothingAudited, router, scopedProcedure } from "../trpc.ts";

const addDocumentInput = z.strictObject({
  source: sourceName,
  title: credentialFree(z.string().trim().min(1).max(200)),
  body: credentialFree(z.string().min(1).max(200_000)),
});

const listInput = z.strictObject({
  source: sourceName.optional(),
  limit: z.number().int().min(1).max(1000).default(100),
});

/** The sources a listing covers: the one asked for, else those the key holds (null: every one, `db:*`). */
function listedSources(held: readonly string[], source: string | undefined): string[] | null {
  if (source) return [source];
  if (held.includes("db:*")) return null;
  return held.filter((s) => s.startsWith("db:")).map((s) => s.slice(3));
}

export const documentsRouter = router({
  add: scopedProcedure({
    scopes: ["admin:documents"],
    input: addDocumentInput,
    inputScopes: (input) => [dataSourceScope(input.source)],
  }).mutation(
    ({ ctx, input }) => withDatabaseTransaction(ctx.database, (tx) => addDocument(tx, input)),
    (doc) => ({ output: JSON.stringify(doc) }),
  ),

  list: scopedProcedure({
    scopes: ["admin:documents"],
    input: listInput,
    inputScopes: (input) => (input.source ? [dataSourceScope(input.source)] : []),
  }).query(async ({ ctx, input }) => {
    const sources = listedSources(ctx.principal.scopes, input.source);
    const rows = await withDatabase(() => listDocuments(ctx.database.db, sources, input.limit));
    return rows.map((r) => ({ ...r, createdAt: r.createdAt.toISOString() }));
  }, nothingAudited),

  // Reading a source includes knowing what is in it, so `db:<source>` is enough to see ids and
  // titles (what a document picker needs); a read costs no use of a one-time key, only a rate
  // slot, like whoami.
  browse: scopedProcedure({
    scopes: [],
    input: listInput.extend({ limit: z.number().int().min(1).max(100).default(50) }),
    inputScopes: (input) => (input.source ? [dataSourceScope(input.source)] : []),
    admit: false,
  }).query(async ({ ctx, input }) => {
    const sources = listedSources(ctx.principal.scopes, input.source);
    const rows = await withDatabase(() => listDocuments(ctx.database.db, sources, input.limit));
    return rows.map((r) => ({ id: r.id, source: r.source, title: r.title }));
  }, nothingAudited),

  remove: scopedProcedure({
    scopes: ["admin:documents"],
    input: z.strictObject({ source: sourceName, id: z.uuid() }),
    inputScopes: (input) => [dataSourceScope(input.source)],
  }).mutation(async ({ ctx, input }) => {
    const removed = await withDatabaseTransaction(ctx.database, (tx) =>
      removeDocument(tx, input.source, input.id),
    );
    if (!removed) fail("NOT_FOUND", "not_found", `No document ${input.id} in source ${input.source}.`);
    return { id: input.id, source: input.source, removed: true };
  }, nothingAudited),
});
