// The tRPC error envelope for requests refused before tRPC runs, so every error a client sees
// has the same shape: { error: { code, message, data: { code, httpStatus, reason, requestId } } }.
import { type TRPC_ERROR_CODE_KEY, TRPC_ERROR_CODES_BY_KEY } from "@trpc/server/rpc";
import { MAX_BATCH_CALLS } from "../../client/limits.ts";
import type { Reason } from "../errors.ts";

export interface HttpRefusal {
  status: number;
  code: TRPC_ERROR_CODE_KEY;
  reason: Reason;
  message: string;
}

export const REFUSALS = {
  payloadTooLarge: {
    status: 413,
    code: "PAYLOAD_TOO_LARGE",
    reason: "payload_too_large",
    message: "The request body exceeds 1 MiB.",
  },
  headersTooLarge: {
    status: 431,
    code: "BAD_REQUEST",
    reason: "headers_too_large",
    message: "The request headers are too large.",
  },
  batchTooLarge: {
    status: 400,
    code: "BAD_REQUEST",
    reason: "batch_too_large",
    message: `A batch holds at most ${MAX_BATCH_CALLS} calls.`,
  },
  unsupportedMediaType: {
    status: 415,
    code: "UNSUPPORTED_MEDIA_TYPE",
    reason: "unsupported_media_type",
    message: "Send application/json.",
  },
  streamTransportRequired: {
    status: 415,
    code: "UNSUPPORTED_MEDIA_TYPE",
    reason: "unsupported_media_type",
    message: "This procedure streams: call it over httpBatchStreamLink (trpc-accept: application/jsonl).",
  },
  requestTimeout: {
    status: 408,
    code: "TIMEOUT",
    reason: "request_timeout",
    message: "The request was not received in time.",
  },
  invalidJson: {
    status: 400,
    code: "PARSE_ERROR",
    reason: "invalid_json",
    message: "The request body is not valid UTF-8 JSON.",
  },
  keyInUrl: {
    status: 400,
    code: "BAD_REQUEST",
    reason: "key_in_url",
    message:
      "API keys are accepted only in the Authorization header; this key may have leaked into logs and should be rotated.",
  },
  methodNotSupported: {
    status: 405,
    code: "METHOD_NOT_SUPPORTED",
    reason: "method_not_supported",
    message: "Use GET for queries and POST for mutations.",
  },
  notFound: { status: 404, code: "NOT_FOUND", reason: "not_found", message: "Not found." },
} as const satisfies Record<string, HttpRefusal>;

export function errorEnvelope(refusal: HttpRefusal, requestId: string): string {
  return JSON.stringify({
    error: {
      code: TRPC_ERROR_CODES_BY_KEY[refusal.code],
      message: refusal.message,
      data: { code: refusal.code, httpStatus: refusal.status, reason: refusal.reason, requestId },
    },
  });
}
