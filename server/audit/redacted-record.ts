// The one redaction step of the audit sinks: a record reaches the database or the spool file only
// as a `RedactedRecord`, and only `redactRecord` makes one, so no sink can store caller text raw.
import { type RedactionResult, redactCredentials, redactSecrets } from "../guard/redact.ts";
import type { AuditRecord } from "./record.ts";

declare const redactedBrand: unique symbol;

/** An audit record whose caller-supplied text is redacted and bounded; made only by `redactRecord`. */
export type RedactedRecord = Readonly<AuditRecord> & { readonly [redactedBrand]: true };

// Audit text columns are bounded so one request cannot bloat the log.
export const MAX_AUDIT_TEXT = 4096;

/**
 * Free text (input, output, details) loses credentials and personal data; identifiers that may
 * legitimately be an address or a number (owner, end user, procedure, client address) lose
 * credentials. Ids the server made (request, call, key id, fingerprint) pass as they are.
 * Idempotent: a spooled record replayed through it again comes out the same, its earlier
 * redactions kept.
 */
export function redactRecord(record: AuditRecord): RedactedRecord {
  const applied = new Set<string>(record.redactions ?? []);
  const text = (value: string, redact: (t: string) => RedactionResult): string => {
    // Redact before the final cut, so the cut cannot leave half a secret unrecognised; the first
    // cut only bounds the redaction work and lies far past the final one.
    const result = redact(value.slice(0, 2 * MAX_AUDIT_TEXT));
    for (const rule of result.applied) applied.add(rule);
    return result.text.length > MAX_AUDIT_TEXT
      ? `${result.text.slice(0, MAX_AUDIT_TEXT)}…[truncated]`
      : result.text;
  };
  const free = (value: string | null | undefined) => (value == null ? null : text(value, redactSecrets));
  const ident = (value: string | null | undefined) => (value == null ? null : text(value, redactCredentials));
  const idents = (values: string[] | null | undefined) =>
    values == null ? null : values.map((v) => text(v, redactCredentials));
  const deep = (value: unknown): unknown => {
    if (typeof value === "string") return text(value, redactSecrets);
    if (Array.isArray(value)) return value.map(deep);
    if (value === null || typeof value !== "object" || value instanceof Date) return value;
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [text(k, redactCredentials), deep(v)]));
  };
  const redacted: AuditRecord = {
    ...record,
    owner: ident(record.owner),
    endUser: ident(record.endUser),
    procedure: ident(record.procedure),
    scopes: idents(record.scopes),
    reason: ident(record.reason),
    input: free(record.input),
    output: free(record.output),
    flags: idents(record.flags),
    model: ident(record.model),
    clientAddress: ident(record.clientAddress),
    details: record.details == null ? null : (deep(record.details) as Record<string, unknown>),
  };
  redacted.redactions = applied.size > 0 ? [...applied] : null;
  return redacted as RedactedRecord;
}
