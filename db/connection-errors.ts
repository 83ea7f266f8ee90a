// Names why a PostgreSQL server could not be used — refused, unknown host, missing database,
// failed authentication, missing privilege — in words an operator can act on, instead of the
// driver's "Failed query: …". Never prints the password from the URL.

/** A database that cannot be opened or prepared; `message` says why and where. */
export class DatabaseSetupError extends Error {
  constructor(
    message: string,
    readonly reason: DatabaseSetupReason,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export type DatabaseSetupReason =
  | "connection_refused"
  | "host_not_found"
  | "connection_timeout"
  | "database_not_found"
  | "authentication_failed"
  | "role_not_found"
  | "insufficient_privilege"
  | "migrations_pending"
  | "unreachable";

interface Where {
  host: string;
  port: string;
  database: string;
  user: string;
}

/** Host, port, database and user of a postgres:// URL, with postgres-js's defaults; no password. */
export function describeTarget(url: string): Where {
  const u = new URL(url);
  return {
    host: decodeURIComponent(u.hostname) || "localhost",
    port: u.port || "5432",
    database: decodeURIComponent(u.pathname.slice(1)) || decodeURIComponent(u.username) || "postgres",
    user: decodeURIComponent(u.username) || "postgres",
  };
}

/** Whether the error, or one in its cause chain, carries this SQLSTATE or driver code. */
export function hasErrorCode(error: unknown, code: string): boolean {
  return errorCodes(error).includes(code);
}

/** Driver (Node socket) codes and SQLSTATEs, found on the error or any error in its cause chain. */
export function errorCodes(error: unknown): string[] {
  const codes: string[] = [];
  for (let e: unknown = error, depth = 0; e && depth < 5; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === "string") codes.push(code);
    e = (e as { cause?: unknown }).cause;
  }
  return codes;
}

/**
 * The operator-facing reason for a failure to open `url`, or null when the error is not about
 * reaching or entering the database (a bug, a constraint), which then surfaces unchanged.
 */
export function explainDatabaseError(error: unknown, url: string): DatabaseSetupError | null {
  const where = describeTarget(url);
  const at = `PostgreSQL at ${where.host}:${where.port}`;
  const make = (reason: DatabaseSetupReason, message: string) =>
    new DatabaseSetupError(message, reason, { cause: error });
  for (const code of errorCodes(error)) {
    switch (code) {
      case "ECONNREFUSED":
        return make(
          "connection_refused",
          `cannot connect to ${at}: connection refused (is the server running?)`,
        );
      case "ENOTFOUND":
      case "EAI_AGAIN":
        return make("host_not_found", `cannot connect to ${at}: host "${where.host}" not found`);
      case "CONNECT_TIMEOUT":
      case "ETIMEDOUT":
      case "EHOSTUNREACH":
        return make("connection_timeout", `cannot connect to ${at}: no answer (${code})`);
      case "3D000":
        return make("database_not_found", `${at}: database "${where.database}" does not exist`);
      case "28P01":
        return make(
          "authentication_failed",
          `${at}: password authentication failed for user "${where.user}"`,
        );
      case "28000":
        // invalid_authorization_specification: also what a missing role gets.
        return /role .* does not exist/.test(innermostMessage(error))
          ? make("role_not_found", `${at}: role "${where.user}" does not exist`)
          : make("authentication_failed", `${at}: authentication failed for user "${where.user}"`);
      case "42501":
        return make(
          "insufficient_privilege",
          `${at}: user "${where.user}" lacks a privilege this step needs (${innermostMessage(error)})`,
        );
    }
    if (code.startsWith("08") || code === "57P03" || code === "CONNECTION_CLOSED" || code === "ECONNRESET") {
      return make("unreachable", `cannot use ${at}: ${innermostMessage(error)} (${code})`);
    }
  }
  return null;
}

/** The innermost message: drizzle wraps the server's words in "Failed query: <sql>". */
export function innermostMessage(error: unknown): string {
  let message = "";
  for (let e: unknown = error, depth = 0; e && depth < 5; depth++) {
    if (e instanceof Error) message = e.message;
    e = (e as { cause?: unknown }).cause;
  }
  return message;
}
