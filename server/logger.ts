// Structured JSON logs (pino) on stderr behind the small `Logger` interface the call sites use.
// Every message, field value and field name passes through redaction, so a key or secret that
// slips into a log call is masked; pino's `redact` paths also censor fields that hold secrets
// whole. Each string is redacted before JSON escapes it: in the escaped line a secret after a
// newline (`\nsk-…`) loses the word boundary the rules look for, and a rule matching across `\n`
// would break the line's JSON.
import { type DestinationStream, pino } from "pino";
import { redactSecrets } from "./guard/redact.ts";

export type LogLevel = "debug" | "info" | "warn" | "error" | "silent";

export interface Logger {
  debug(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

/** Fields that carry a credential whole (a header, a token): censored even if no rule matches. */
const SECRET_PATHS = [
  "authorization",
  "headers.authorization",
  "headers.cookie",
  "headers['x-api-key']",
  "apiKey",
  "plaintext",
  "token",
  "password",
  "secret",
  "pepper",
  "signingKey",
  "localAdminToken",
];

/**
 * `write` receives one JSON line per call (tests collect them); without it lines go to stderr
 * synchronously, so the error logged just before an exit is not lost in a buffer.
 */
export function createLogger(level: LogLevel, write?: (line: string) => void): Logger {
  const destination: DestinationStream = write ? { write } : pino.destination({ dest: 2, sync: true });
  const log = pino(
    {
      level,
      base: undefined,
      timestamp: () => `,"ts":"${new Date().toISOString()}"`,
      formatters: { level: (label) => ({ level: label }), log: redactFields },
      redact: { paths: SECRET_PATHS, censor: "[redacted]" },
    },
    destination,
  );
  // The message goes in as the first field, so it precedes the fields on the line as it always
  // did (scripts match on that) and is redacted with them. The level is fixed: a disabled one is a no-op.
  const method = (at: Exclude<LogLevel, "silent">): Logger[typeof at] =>
    log.isLevelEnabled(at) ? (msg, fields) => log[at]({ msg, ...fields }) : () => {};
  return { debug: method("debug"), info: method("info"), warn: method("warn"), error: method("error") };
}

// How deep a chain of `cause`s (and nested fields) is followed: enough for driver -> pool -> ours,
// bounded for cycles.
const MAX_DEPTH = 8;
const MAX_CAUSE_DEPTH = 5;

/** pino `formatters.log`: a copy of the fields (message included) with every string redacted and errors serialized. */
function redactFields(fields: Record<string, unknown>): Record<string, unknown> {
  return redactObject(fields, 0);
}

function redactValue(value: unknown, depth: number): unknown {
  if (typeof value === "string") return redactSecrets(value).text;
  if (value === null || typeof value !== "object") return value;
  if (depth >= MAX_DEPTH) return "[too deep]";
  if (value instanceof Error) return serializeError(value, 0);
  if (Array.isArray(value)) return value.map((item) => redactValue(item, depth + 1));
  const toJSON = (value as { toJSON?: unknown }).toJSON;
  if (typeof toJSON === "function") return redactValue(toJSON.call(value), depth + 1);
  return redactObject(value as Record<string, unknown>, depth + 1);
}

function redactObject(value: Record<string, unknown>, depth: number): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [name, item] of Object.entries(value)) out[redactSecrets(name).text] = redactValue(item, depth);
  return out;
}

// pino's stdSerializers.errWithCause copies every enumerable property of an error, and
// drizzle's query error carries the query's bound values (prompt text, key hashes): so an
// allowlist of what an operator needs to diagnose it instead.
const ERROR_FIELDS = ["code", "errno", "syscall", "detail", "severity", "routine", "constraint_name"];

/**
 * Name, message, stack, the driver's or system's `code` (and errno/syscall, Postgres
 * `detail`/`severity`), the `cause` chain and an AggregateError's errors, every string redacted.
 */
function serializeError(error: Error, depth: number): Record<string, unknown> {
  const out: Record<string, unknown> = { name: error.name, message: redactSecrets(error.message).text };
  const fields = error as unknown as Record<string, unknown>;
  for (const field of ERROR_FIELDS) {
    const value = fields[field];
    if (typeof value === "string") out[field] = redactSecrets(value).text;
    else if (typeof value === "number") out[field] = value;
  }
  if (error.stack) out.stack = redactSecrets(error.stack).text;
  if (depth < MAX_CAUSE_DEPTH) {
    const cause = error.cause;
    if (cause instanceof Error) out.cause = serializeError(cause, depth + 1);
    else if (cause !== undefined) out.cause = redactSecrets(String(cause)).text;
    if (error instanceof AggregateError) {
      out.errors = error.errors
        .slice(0, 10)
        .map((e: unknown) =>
          e instanceof Error ? serializeError(e, depth + 1) : redactSecrets(String(e)).text,
        );
    }
  }
  return out;
}
