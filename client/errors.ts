// describeError: any failure from the SDK (a thrown TRPCClientError, a network failure, or a
// chatStream `error` event) as one plain object read from `error.data`, never the numeric code.
import { TRPCClientError } from "@trpc/client";
import type { TRPC_ERROR_CODE_KEY } from "@trpc/server";

export interface ErrorDescription {
  /** tRPC code name from `error.data.code` (`FORBIDDEN`, …), or a client-side `NETWORK_ERROR` / `CLIENT_ERROR`. */
  code: TRPC_ERROR_CODE_KEY | "NETWORK_ERROR" | "CLIENT_ERROR";
  /** Machine-readable reason (`missing_scope`, `rate_limited`, …; `network_error`, `aborted`, … client-side). */
  reason: string;
  message: string;
  /** The server's request id (for support and the audit log); null when no response arrived. */
  requestId: string | null;
  httpStatus: number | null;
  missingScopes?: string[];
  retryAfterMs?: number;
  flags?: string[];
  fieldErrors?: Record<string, string[]>;
}

type Fields = Record<string, unknown>;

function isFields(value: unknown): value is Fields {
  return typeof value === "object" && value !== null;
}

function stringOr<T>(value: unknown, fallback: T): string | T {
  return typeof value === "string" ? value : fallback;
}

function stringList(value: unknown): string[] | undefined {
  return Array.isArray(value) && value.every((v) => typeof v === "string") ? value : undefined;
}

function fieldErrorsOf(value: unknown): Record<string, string[]> | undefined {
  if (!isFields(value)) return undefined;
  const out: Record<string, string[]> = {};
  for (const [field, messages] of Object.entries(value)) {
    const list = stringList(messages);
    if (list) out[field] = list;
  }
  return Object.keys(out).length > 0 ? out : undefined;
}

/** Reads the server's error data (the errorFormatter's shape), validating each field it uses. */
function fromData(data: Fields, message: string, fallbackRequestId: string | null): ErrorDescription {
  const description: ErrorDescription = {
    code: stringOr(data.code, "CLIENT_ERROR") as ErrorDescription["code"],
    reason: stringOr(data.reason, "unknown"),
    message,
    requestId: stringOr(data.requestId, fallbackRequestId),
    httpStatus: typeof data.httpStatus === "number" ? data.httpStatus : null,
  };
  const missingScopes = stringList(data.missingScopes);
  if (missingScopes) description.missingScopes = missingScopes;
  if (typeof data.retryAfterMs === "number" && Number.isFinite(data.retryAfterMs)) {
    description.retryAfterMs = data.retryAfterMs;
  }
  const flags = stringList(data.flags);
  if (flags) description.flags = flags;
  const fieldErrors = fieldErrorsOf(data.fieldErrors);
  if (fieldErrors) description.fieldErrors = fieldErrors;
  return description;
}

function responseOf(error: TRPCClientError<never>): Response | null {
  const response = error.meta?.response;
  return response instanceof Response ? response : null;
}

function isAbort(error: unknown): boolean {
  return (
    isFields(error) &&
    (error.name === "AbortError" || (isFields(error.cause) && error.cause.name === "AbortError"))
  );
}

/**
 * Turns any error from a scopegate call into `{ code, reason, requestId, message, … }`.
 * Also accepts a chatStream `{ type: "error", code, reason, requestId }` event.
 */
export function describeError(error: unknown): ErrorDescription {
  if (isAbort(error)) {
    return {
      code: "CLIENT_ERROR",
      reason: "aborted",
      message: "The request was cancelled.",
      requestId: null,
      httpStatus: null,
    };
  }
  if (error instanceof TRPCClientError) {
    const response = responseOf(error);
    const requestId = response?.headers.get("x-request-id") ?? null;
    if (isFields(error.data)) return fromData(error.data, error.message, requestId);
    if (response) {
      // A response without tRPC's envelope: a proxy or another server answered.
      return {
        code: "CLIENT_ERROR",
        reason: "unexpected_response",
        message: `Unexpected response (HTTP ${response.status}).`,
        requestId,
        httpStatus: response.status,
      };
    }
    // fetch resolved but its body was not JSON: something other than scopegate answered.
    if (error.cause instanceof SyntaxError) {
      return {
        code: "CLIENT_ERROR",
        reason: "unexpected_response",
        message: "The server's answer was not a scopegate response.",
        requestId: null,
        httpStatus: null,
      };
    }
    return {
      code: "NETWORK_ERROR",
      reason: "network_error",
      message: error.message,
      requestId: null,
      httpStatus: null,
    };
  }
  if (isFields(error) && error.type === "error" && typeof error.reason === "string") {
    return fromData(error, stringOr(error.message, `The stream ended with ${error.reason}.`), null);
  }
  const message = error instanceof Error ? error.message : String(error);
  return { code: "CLIENT_ERROR", reason: "client_error", message, requestId: null, httpStatus: null };
}
