// The audit insert as one fixed statement: the batch's rows travel as a single JSON parameter
// and Postgres unpacks them (json_populate_recordset), so any number of rows is one prepared
// statement and no query is built per call. The column list comes from the Drizzle schema.
import { getTableColumns } from "drizzle-orm";
import { auditLog, type NewAuditRow, type Statement } from "../../db/index.ts";

const columns = Object.entries(getTableColumns(auditLog))
  .filter(([, column]) => !column.primary)
  .map(([property, column]) => ({ property: property as keyof NewAuditRow, name: column.name }));
const columnList = columns.map((column) => `"${column.name}"`).join(", ");

const INSERT_AUDIT_ROWS = `insert into audit_log (${columnList}) select ${columnList} from json_populate_recordset(null::audit_log, $1::text::json)`;

export function insertAuditRows(rows: readonly NewAuditRow[]): Statement {
  const byColumn = rows.map((row) => {
    const out: Record<string, unknown> = {};
    for (const column of columns) out[column.name] = row[column.property] ?? null;
    return out;
  });
  return { text: INSERT_AUDIT_ROWS, params: [JSON.stringify(byColumn)] };
}

/**
 * What Postgres text and jsonb can hold: no NUL and no unpaired surrogate (each becomes U+FFFD).
 * Applied before a record is hashed, so the stored row is exactly the hashed one, and one
 * caller's odd input can never fail the batch that carries other callers' records. Values that
 * are already storable (nearly all) are returned as they are, without a copy.
 */
export function storable<T>(value: T): T {
  return isStorable(value) ? value : repaired(value);
}

const isStorableText = (text: string) => text.isWellFormed() && !text.includes("\u0000");

function isStorable(value: unknown): boolean {
  if (typeof value === "string") return isStorableText(value);
  if (Array.isArray(value)) return value.every(isStorable);
  if (value === null || typeof value !== "object" || value instanceof Date) return true;
  for (const key in value) {
    if (!isStorableText(key) || !isStorable((value as Record<string, unknown>)[key])) return false;
  }
  return true;
}

function repaired<T>(value: T): T {
  if (typeof value === "string") return value.toWellFormed().replaceAll("\u0000", "\uFFFD") as T;
  if (Array.isArray(value)) return value.map(repaired) as T;
  if (value === null || typeof value !== "object" || value instanceof Date) return value;
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [repaired(k), repaired(v)])) as T;
}
