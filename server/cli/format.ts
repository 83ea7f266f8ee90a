// CLI output helpers: durations, tables and escaping (model and user text may hold control
// characters that would rewrite the operator's terminal).

export function parseDuration(text: string): number {
  const match = /^(\d{1,9})(s|m|h|d)$/.exec(text.trim());
  if (!match?.[1] || !match[2]) throw new UsageError(`not a duration: ${text} (use e.g. 30s, 5m, 1h, 90d)`);
  const unit = { s: 1, m: 60, h: 3600, d: 86400 }[match[2] as "s" | "m" | "h" | "d"];
  return Number(match[1]) * unit;
}

export class UsageError extends Error {}

// Control and format characters (including bidi overrides) are shown escaped, never
// interpreted by the terminal; newlines and tabs are kept.
const UNSAFE = /[\p{Cc}\p{Cf}]/gu;

export function escapeControls(text: string): string {
  return text.replace(UNSAFE, (ch) =>
    ch === "\n" || ch === "\t" ? ch : `\\u${ch.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
}

export function table(rows: Array<Record<string, unknown>>, columns: string[]): string {
  const cells = rows.map((row) =>
    columns.map((c) => escapeControls(formatCell(row[c])).replace(/\n/g, "\\n")),
  );
  const widths = columns.map((c, i) => Math.max(c.length, ...cells.map((r) => (r[i] ?? "").length)));
  const line = (values: string[]) =>
    values
      .map((v, i) => v.padEnd(widths[i] ?? 0))
      .join("  ")
      .trimEnd();
  return [line(columns), ...cells.map(line)].join("\n");
}

function formatCell(value: unknown): string {
  if (value === null || value === undefined) return "-";
  if (Array.isArray(value)) return value.join(",");
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}
