// The error catalogue: every refusal is a TRPCError with a code from the design's table and a
// machine-readable `reason`; the errorFormatter copies reason and details into `error.data`.
import { TRPCError } from "@trpc/server";
import type { TRPC_ERROR_CODE_KEY } from "@trpc/server/rpc";

export const REASONS = [
  "missing_key",
  "invalid_key",
  "expired_key",
  "revoked_key",
  "usage_exhausted",
  "auth_throttled",
  "missing_scope",
  "end_user_mismatch",
  "already_rotated",
  "key_inactive",
  "rate_limited",
  "budget_exhausted",
  "prompt_rejected",
  "output_blocked",
  "invalid_input",
  "invalid_json",
  "invalid_end_user",
  "key_in_url",
  "payload_too_large",
  "headers_too_large",
  "batch_too_large",
  "not_found",
  "method_not_supported",
  "unsupported_media_type",
  "model_error",
  "model_timeout",
  "client_closed",
  "request_timeout",
  "tool_not_permitted",
  "unavailable",
  "internal_error",
  "shutdown",
  "operator_only",
  "audit_tampered",
] as const;

export type Reason = (typeof REASONS)[number];

export interface ErrorDetails {
  missingScopes?: string[];
  retryAfterMs?: number;
  flags?: string[];
  fieldErrors?: Record<string, string[]>;
  formErrors?: string[];
}

export class ScopegateError extends TRPCError {
  constructor(
    code: TRPC_ERROR_CODE_KEY,
    readonly reason: Reason,
    message: string,
    readonly details: ErrorDetails = {},
    cause?: unknown,
  ) {
    super({ code, message, cause });
  }
}

export function fail(
  code: TRPC_ERROR_CODE_KEY,
  reason: Reason,
  message: string,
  details?: ErrorDetails,
): never {
  throw new ScopegateError(code, reason, message, details);
}

/** A call a draining server ended at its deadline (SIGTERM); the final record says `shutdown`. */
export function shuttingDown(cause?: unknown): ScopegateError {
  return new ScopegateError(
    "SERVICE_UNAVAILABLE",
    "shutdown",
    "The server is shutting down; retry.",
    {},
    cause,
  );
}

/** A call cut off because its client went away (the upstream model request is aborted too). */
export function clientClosed(cause?: unknown): ScopegateError {
  return new ScopegateError("CLIENT_CLOSED_REQUEST", "client_closed", "The client went away.", {}, cause);
}

// Reasons for errors raised by tRPC itself (routing, parsing) rather than by our pipeline.
const REASON_BY_CODE: Partial<Record<TRPC_ERROR_CODE_KEY, Reason>> = {
  PARSE_ERROR: "invalid_json",
  BAD_REQUEST: "invalid_input",
  NOT_FOUND: "not_found",
  METHOD_NOT_SUPPORTED: "method_not_supported",
  UNSUPPORTED_MEDIA_TYPE: "unsupported_media_type",
  PAYLOAD_TOO_LARGE: "payload_too_large",
  UNAUTHORIZED: "invalid_key",
  SERVICE_UNAVAILABLE: "unavailable",
};

export function reasonOf(error: TRPCError): Reason {
  if (error instanceof ScopegateError) return error.reason;
  return REASON_BY_CODE[error.code] ?? "internal_error";
}

/**
 * Refusals anyone can repeat at no cost to themselves: the caller never proved who it is, or
 * holds a key that is dead (expired, revoked, used up; such a key no longer reaches the rate
 * bucket). Past a per-address threshold they are aggregated, so repeating them cannot fill the log.
 */
export function isFloodCounted(reason: Reason): boolean {
  return (
    reason === "missing_key" ||
    reason === "invalid_key" ||
    reason === "auth_throttled" ||
    reason === "expired_key" ||
    reason === "revoked_key" ||
    reason === "usage_exhausted"
  );
}
