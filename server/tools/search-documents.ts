// The `search-documents` tool: keyword retrieval over `documents`, limited to the data sources
// the calling key holds (`db:<source>`, or every source with `db:*`).
import { and, ilike, inArray, or, type SQL } from "drizzle-orm";
import { z } from "zod";
import { documents } from "../../db/index.ts";
import type { Principal } from "../auth/principal.ts";
import { withDatabase } from "../db-errors.ts";
import { SEARCH_DOCUMENTS } from "./names.ts";
import type { Tool } from "./tool.ts";

const args = z.strictObject({
  query: z.string().min(1).max(200),
  limit: z.number().int().min(1).max(5).optional(),
});

const MAX_TERMS = 8;
const CANDIDATES = 50;
const EXCERPT_CHARS = 400;

/** The sources a key may read; `null` means all of them (`db:*`). */
export function heldSources(principal: Principal): string[] | null {
  if (principal.scopes.includes("db:*")) return null;
  return principal.scopes.filter((s) => s.startsWith("db:")).map((s) => s.slice(3));
}

function termsOf(query: string): string[] {
  const words = query.toLowerCase().match(/[\p{L}\p{N}][\p{L}\p{N}'-]*/gu) ?? [];
  return [...new Set(words.filter((w) => w.length >= 3))].slice(0, MAX_TERMS);
}

// LIKE patterns treat `%`, `_` and `\` specially; a query must only ever match literally.
const likeLiteral = (term: string) => `%${term.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;

function occurrences(haystack: string, term: string): number {
  let count = 0;
  for (let at = haystack.indexOf(term); at >= 0; at = haystack.indexOf(term, at + term.length)) count++;
  return count;
}

function excerpt(body: string, terms: string[]): string {
  const lower = body.toLowerCase();
  const first = Math.min(...terms.map((t) => lower.indexOf(t)).filter((i) => i >= 0));
  const start = Number.isFinite(first) ? Math.max(0, first - EXCERPT_CHARS / 4) : 0;
  // ASCII whitespace only: JavaScript's \s also matches U+FEFF, and turning a hidden character
  // into a space would hide it from the guard (which removes and flags it) as letter spacing.
  const text = body
    .slice(start, start + EXCERPT_CHARS)
    .replace(/[ \t\n\r\f\v]+/g, " ")
    .trim();
  return `${start > 0 ? "…" : ""}${text}${start + EXCERPT_CHARS < body.length ? "…" : ""}`;
}

export function searchDocumentsTool(): Tool<z.infer<typeof args>> {
  return {
    name: SEARCH_DOCUMENTS,
    description:
      "Search the documents this API key may read. Returns up to `limit` matches with source, id, title and an excerpt.",
    args,
    external: false,
    async execute({ query, limit = 3 }, { principal, db }) {
      const sources = heldSources(principal);
      const terms = termsOf(query);
      if (terms.length === 0 || (sources !== null && sources.length === 0))
        return JSON.stringify({ results: [] });
      const matches: SQL[] = terms.flatMap((t) => [
        ilike(documents.title, likeLiteral(t)),
        ilike(documents.body, likeLiteral(t)),
      ]);
      const where =
        sources === null ? or(...matches) : and(inArray(documents.source, sources), or(...matches));
      const rows = await withDatabase(() =>
        db
          .select({
            id: documents.id,
            source: documents.source,
            title: documents.title,
            body: documents.body,
          })
          .from(documents)
          .where(where)
          .limit(CANDIDATES),
      );
      const ranked = rows
        .map((row) => {
          const title = row.title.toLowerCase();
          const body = row.body.toLowerCase();
          const score = terms.reduce((sum, t) => sum + 3 * occurrences(title, t) + occurrences(body, t), 0);
          return { row, score };
        })
        .sort((a, b) => b.score - a.score || a.row.title.localeCompare(b.row.title))
        .slice(0, limit);
      return JSON.stringify({
        results: ranked.map(({ row }) => ({
          source: row.source,
          id: row.id,
          title: row.title,
          excerpt: excerpt(row.body, terms),
        })),
      });
    },
  };
}
