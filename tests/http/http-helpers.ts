// Plain-fetch helpers for the HTTP tests: calls against a real server and the assertions every
// error envelope must satisfy (reason, request id matching the header, nothing internal).
import { expect } from "vitest";

export interface EnvelopeError {
  code: number;
  message: string;
  data: { code: string; httpStatus: number; reason: string; requestId: string; [key: string]: unknown };
}

export interface HttpResult {
  status: number;
  headers: Headers;
  text: string;
  json: unknown;
}

export async function send(url: string, init: RequestInit = {}): Promise<HttpResult> {
  const response = await fetch(url, init);
  const text = await response.text();
  let json: unknown = null;
  try {
    json = JSON.parse(text);
  } catch {}
  return { status: response.status, headers: response.headers, text, json };
}

export function bearer(key: string): Record<string, string> {
  return { authorization: `Bearer ${key}`, "content-type": "application/json" };
}

/** POSTs one tRPC batch: `inputs[i]` goes to `paths[i]`. */
export function postBatch(base: string, paths: string[], inputs: unknown[], key: string) {
  const body = Object.fromEntries(inputs.map((input, i) => [String(i), input]));
  return send(`${base}/trpc/${paths.join(",")}?batch=1`, {
    method: "POST",
    headers: bearer(key),
    body: JSON.stringify(body),
  });
}

// What must never reach a caller: stack frames, file paths, driver or runtime internals.
const INTERNALS =
  /\bat [\w.<>]+ \(|\.ts:\d+|node:internal|node_modules|stack|TypeError|SyntaxError|postgres|pglite|drizzle/i;

/** Asserts `error` is a well-formed envelope with `reason`, tied to the response's request id. */
export function expectEnvelope(result: HttpResult, error: unknown, status: number, reason: string) {
  const requestId = result.headers.get("x-request-id");
  expect(requestId, "x-request-id header").toMatch(/\S/);
  const e = error as EnvelopeError;
  expect(e.data.reason).toBe(reason);
  expect(e.data.httpStatus).toBe(status);
  expect(e.data.requestId).toBe(requestId);
  expect(typeof e.code).toBe("number");
  expect(JSON.stringify(e)).not.toMatch(INTERNALS);
  return e;
}

/** A single (non-batch) error response: status, envelope and a clean body. */
export function expectErrorResponse(result: HttpResult, status: number, reason: string) {
  expect(result.status, result.text).toBe(status);
  expect(result.headers.get("content-type")).toMatch(/^application\/json/);
  expect(result.text).not.toMatch(INTERNALS);
  const body = result.json as { error?: unknown };
  expect(body?.error, result.text).toBeDefined();
  return expectEnvelope(result, body.error, status, reason);
}
