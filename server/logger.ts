// Structured JSON logs on stderr. Every message and field passes through redaction, so a key
// or secret that slips into a log call is masked. Each string is redacted before JSON escapes
// it: in the escaped line a secret after a newline (`\nsk-…`) loses the word boundary the rules
// look for, and a rule matching across `\n` would break the line's JSON.
import { redactSecrets } from "./guard/redact.ts";

export type LogLevel = "debug" | "info" | "warn" | "error" | "silent";
const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 };

export interface Logger {
  debug(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

export function createLogger(
  level: LogLevel,
  write: (line: string) => void = (l) => process.stderr.write(l),
): Logger {
  const log = (at: LogLevel, message: string, fields?: Record<string, unknown>) => {
    if (ORDER[at] < ORDER[level]) return;
    const line = JSON.stringify(
      { ts: new Date().toISOString(), level: at, msg: message, ...fields },
      redactingReplacer,
    );
    write(`${line}\n`);
  };
  return {
    debug: (m, f) => log("debug", m, f),
    info: (m, f) => log("info", m, f),
    warn: (m, f) => log("warn", m, f),
    error: (m, f) => log("error", m, f),
  };
}

// How deep a chain of `cause`s is followed: enough for driver -> pool -> ours, bounded for cycles.
const MAX_CAUSE_DEPTH = 5;

/**
 * Every string (values and property names) is redacted. Errors keep what an operator needs to
 * diagnose them: name, message, stack, the driver's or system's `code` (and errno/syscall,
 * Postgres `detail`/`severity`), their `cause` chain and an AggregateError's errors; their
 * strings pass through here in turn, so none of it can leak a key.
 */
function redactingReplacer(_key: string, value: unknown): unknown {
  if (typeof value === "string") return redactSecrets(value).text;
  if (value instanceof Error) return serializeError(value, 0);
  if (value !== null && typeof value === "object" && !Array.isArray(value)) {
    const entries = Object.entries(value);
    if (entries.some(([name]) => redactSecrets(name).applied.length > 0)) {
      return Object.fromEntries(entries.map(([name, v]) => [redactSecrets(name).text, v]));
    }
  }
  return value;
}

const ERROR_FIELDS = ["code", "errno", "syscall", "detail", "severity", "routine", "constraint_name"];

function serializeError(error: Error, depth: number): Record<string, unknown> {
  const out: Record<string, unknown> = { name: error.name, message: error.message };
  const fields = error as unknown as Record<string, unknown>;
  for (const field of ERROR_FIELDS) {
    const value = fields[field];
    if (typeof value === "string" || typeof value === "number") out[field] = value;
  }
  if (error.stack) out.stack = error.stack;
  if (depth < MAX_CAUSE_DEPTH) {
    const cause = error.cause;
    if (cause instanceof Error) out.cause = serializeError(cause, depth + 1);
    else if (cause !== undefined) out.cause = String(cause);
    if (error instanceof AggregateError) {
      out.errors = error.errors
        .slice(0, 10)
        .map((e: unknown) => (e instanceof Error ? serializeError(e, depth + 1) : String(e)));
    }
  }
  return out;
}
