// Errors in OpenAI's shape, `{ error: { message, type, code, param } }`, with the HTTP status of
// the tRPC surface and scopegate's reason as `code`, so OpenAI SDKs raise their usual classes.
import { getErrorShape, type TRPCError } from "@trpc/server";
import type { Context } from "../../context.ts";
import type { Reason } from "../../errors.ts";
import { appRouter } from "../../routers/app.ts";

export interface OpenAiError {
  status: number;
  reason: Reason;
  message: string;
  param: string | null;
  /** Seconds, for `Retry-After` on a 429. */
  retryAfter?: number;
}

// OpenAI's error types by status; a spent budget is its `insufficient_quota`.
function errorType(status: number, reason: Reason): string {
  if (reason === "budget_exhausted") return "insufficient_quota";
  if (status === 401) return "authentication_error";
  if (status === 403) return "permission_error";
  if (status === 429) return "rate_limit_error";
  if (status >= 500) return "api_error";
  return "invalid_request_error";
}

export function errorPayload(error: OpenAiError) {
  return {
    error: {
      message: error.message,
      type: errorType(error.status, error.reason),
      code: error.reason,
      param: error.param,
    },
  };
}

interface ShapeData {
  httpStatus: number;
  reason: Reason;
  retryAfterMs?: number;
  fieldErrors?: Record<string, string[]>;
}

/**
 * A procedure's error as the tRPC surface formats it (same status, reason and message, internal
 * detail hidden by the one errorFormatter), restated in OpenAI's shape.
 */
export function fromTrpcError(error: TRPCError, ctx: Context, path: string): OpenAiError {
  const shape = getErrorShape({
    config: appRouter._def._config,
    error,
    type: "mutation",
    path,
    input: undefined,
    ctx,
  });
  const data = shape.data as ShapeData;
  const [field] = Object.keys(data.fieldErrors ?? {});
  return {
    status: data.httpStatus,
    reason: data.reason,
    message: shape.message,
    param: field ?? null,
    ...(data.httpStatus === 429 ? { retryAfter: retryAfterSeconds(data.retryAfterMs) } : {}),
  };
}

export const retryAfterSeconds = (ms: number | undefined): number => Math.max(1, Math.ceil((ms ?? 0) / 1000));
