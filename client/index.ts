// The typed scopegate SDK (`@scopegate/client`): createClient for Node 20 and browsers, the
// router's input/output types, and describeError. Server code is imported as types only.
import {
  createTRPCClient,
  httpBatchLink,
  httpBatchStreamLink,
  type Operation,
  splitLink,
  type TRPCClient,
} from "@trpc/client";
import type { inferRouterInputs, inferRouterOutputs } from "@trpc/server";
import type { AppRouter } from "./app-router.ts";
import { MAX_BATCH_CALLS } from "./limits.ts";

export { describeError, type ErrorDescription } from "./errors.ts";
export { MAX_BATCH_CALLS } from "./limits.ts";
export type { AppRouter };

export type RouterInputs = inferRouterInputs<AppRouter>;
export type RouterOutputs = inferRouterOutputs<AppRouter>;
export type ScopegateClient = TRPCClient<AppRouter>;

/** Procedures whose result is an async iterable, sent over the streaming link. */
export const STREAMING_PROCEDURES: ReadonlySet<string> = new Set(["chatStream"]);
// Queries travel as GET; longer batches are split so no URL outgrows what proxies accept.
const MAX_URL_LENGTH = 8 * 1024;

type FetchLike = (input: RequestInfo | URL, init?: RequestInit) => Promise<Response>;

export interface ClientOptions {
  /** The server origin (e.g. `http://localhost:3000`); `/trpc` is appended. */
  url: string;
  /** Sent only as `Authorization: Bearer <apiKey>`, never in a URL. */
  apiKey: string;
  /** A fetch implementation (defaults to the global one). */
  fetch?: FetchLike;
  /** Extra headers on every request (e.g. `x-end-user`); they cannot replace `authorization`. */
  headers?: Record<string, string>;
}

/**
 * A typed client for every scopegate procedure. Calls made in the same tick are batched into
 * one HTTP request (at most 50 calls each); `chatStream` streams its events over a POST.
 */
export function createClient(options: ClientOptions): ScopegateClient {
  const endpoint = trpcEndpoint(options.url);
  if (typeof options.apiKey !== "string" || options.apiKey.trim() === "") {
    throw new TypeError("scopegate: apiKey is required");
  }
  const headers = requestHeaders(options.apiKey.trim(), options.headers ?? {});
  const fetchImpl = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
  const common = { url: endpoint, headers: () => headers, fetch: fetchImpl, maxItems: MAX_BATCH_CALLS };
  return createTRPCClient<AppRouter>({
    links: [
      splitLink({
        condition: (op: Operation) => STREAMING_PROCEDURES.has(op.path),
        true: httpBatchStreamLink({ ...common }),
        false: httpBatchLink({ ...common, maxURLLength: MAX_URL_LENGTH }),
      }),
    ],
  });
}

/** The tRPC endpoint under `url`. Credentials, queries and fragments are refused: keys go in a header. */
function trpcEndpoint(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new TypeError(`scopegate: url must be an absolute http(s) URL, got ${JSON.stringify(url)}`);
  }
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:") {
    throw new TypeError("scopegate: url must use http or https");
  }
  if (parsed.username || parsed.password || parsed.search || parsed.hash) {
    throw new TypeError("scopegate: url must be a plain origin or path, with no credentials or query");
  }
  return `${parsed.origin}${parsed.pathname.replace(/\/+$/, "")}/trpc`;
}

function requestHeaders(apiKey: string, extra: Record<string, string>): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(extra)) {
    // The key has exactly one place; a second Authorization would be ambiguous.
    if (name.toLowerCase() === "authorization") {
      throw new TypeError("scopegate: pass the key as apiKey, not as an authorization header");
    }
    headers[name] = value;
  }
  headers.authorization = `Bearer ${apiKey}`;
  return headers;
}

/** One `chatStream` event: `delta` (text), then `done` (usage, requestId) or `error` (code, reason, requestId). */
export type ChatStreamEvent = RouterOutputs["chatStream"] extends AsyncIterable<infer E> ? E : never;
