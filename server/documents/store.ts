// Document storage. Every read names its source, and callers check `db:<source>` first, so a
// key learns nothing about documents in sources it does not hold.
import { and, desc, eq, inArray } from "drizzle-orm";
import { type Database, type DocumentRow, documents } from "../../db/index.ts";

export async function findDocument(db: Database, source: string, id: string): Promise<DocumentRow | null> {
  const [row] = await db
    .select()
    .from(documents)
    .where(and(eq(documents.source, source), eq(documents.id, id)))
    .limit(1);
  return row ?? null;
}

export async function addDocument(
  db: Database,
  doc: { source: string; title: string; body: string },
): Promise<Pick<DocumentRow, "id" | "source" | "title">> {
  const [row] = await db
    .insert(documents)
    .values(doc)
    .returning({ id: documents.id, source: documents.source, title: documents.title });
  if (!row) throw new Error("insert returned no row");
  return row;
}

/** Documents in the given sources, newest first; `null` means every source (a `db:*` holder). */
export async function listDocuments(db: Database, sources: string[] | null, limit: number) {
  const columns = {
    id: documents.id,
    source: documents.source,
    title: documents.title,
    createdAt: documents.createdAt,
  };
  if (sources !== null && sources.length === 0) return [];
  const query = db.select(columns).from(documents);
  const filtered = sources === null ? query : query.where(inArray(documents.source, sources));
  return filtered.orderBy(desc(documents.createdAt)).limit(limit);
}

export async function removeDocument(db: Database, source: string, id: string): Promise<boolean> {
  const removed = await db
    .delete(documents)
    .where(and(eq(documents.source, source), eq(documents.id, id)))
    .returning({ id: documents.id });
  return removed.length > 0;
}
