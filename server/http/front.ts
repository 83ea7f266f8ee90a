// The checks every request passes before either door (tRPC at /trpc, OpenAI at /v1) runs it:
// who is asking (request id, client address, credential header), the headers every answer
// carries (security, CORS), a key in the URL, and the content type. Each is a header check; the
// body is read later, by tRPC's adapter.
import type { IncomingMessage, ServerResponse } from "node:http";
import type { RequestInfo, Services } from "../context.ts";
import type { Reason } from "../errors.ts";
import { looksLikeKey } from "../guard/redact.ts";
import { clientAddress } from "./client-address.ts";

const SECURITY_HEADERS: Record<string, string> = {
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "cache-control": "no-store",
};

// Query parameters that carry credentials in other products; a key there has leaked into logs.
const CREDENTIAL_PARAMS = /^(?:key|api[_-]?key|apikey|token|access[_-]?token|authorization|bearer)$/i;
// Layers of percent-encoding undone when looking for a key in a URL (`%2573` is `%73` is `s`).
const MAX_DECODE_ROUNDS = 4;

const CORS_HEADERS = "authorization, content-type, x-end-user, trpc-accept";
// What the openai SDK (v6) sends from a browser besides authorization and content-type: its
// platform, retry and timeout headers, and the user agent (Firefox lets fetch set it).
const OPENAI_SDK_HEADERS =
  "user-agent, x-stainless-lang, x-stainless-package-version, x-stainless-os, x-stainless-arch, x-stainless-runtime, x-stainless-runtime-version, x-stainless-retry-count, x-stainless-timeout, x-stainless-helper-method";

/** The HTTP layer's checks and refusal audit, handed to the OpenAI door so both doors share one copy. */
export interface FrontChecks {
  isJsonContentType(req: IncomingMessage): boolean;
  /** The body, or `cutOff` with the reason to record when it never arrived whole (reset, timeout). */
  readBody(req: IncomingMessage): Promise<string | "too_large" | "invalid_utf8" | { cutOff: Reason }>;
  /** One `final` record for a request refused before any procedure ran. */
  auditRefusal(services: Services, info: RequestInfo, path: string | null, reason: Reason): Promise<void>;
  closeAfterDiscarding(res: ServerResponse): void;
}

/** Who is asking, as the pipeline and the audit see it. */
export function requestInfo(services: Services, req: IncomingMessage, requestId: string): RequestInfo {
  return {
    requestId,
    clientAddress: clientAddress(
      req.socket.remoteAddress,
      headerValue(req, "x-forwarded-for"),
      services.config.trustedProxies,
    ),
    authorization: headerValue(req, "authorization"),
    endUser: headerValue(req, "x-end-user"),
  };
}

/** Headers on every answer: the request id, the security headers, and CORS for allowed origins. */
export function setCommonHeaders(
  services: Services,
  req: IncomingMessage,
  res: ServerResponse,
  requestId: string,
  openAiDoor: boolean,
): void {
  res.setHeader("x-request-id", requestId);
  for (const [name, value] of Object.entries(SECURITY_HEADERS)) res.setHeader(name, value);
  const origin = headerValue(req, "origin");
  if (!origin || !services.config.corsOrigins.includes(origin)) return;
  res.setHeader("access-control-allow-origin", origin);
  res.setHeader("vary", "origin");
  res.setHeader("access-control-allow-methods", "GET, POST, OPTIONS");
  res.setHeader(
    "access-control-allow-headers",
    openAiDoor ? `${CORS_HEADERS}, ${OPENAI_SDK_HEADERS}` : CORS_HEADERS,
  );
  res.setHeader("access-control-expose-headers", "x-request-id, retry-after");
}

/**
 * Whether the URL carries a credential: a key (in the path or query, after undoing every layer
 * of percent-encoding) or a query parameter named like one.
 */
export function urlCarriesCredential(raw: string, url: URL): boolean {
  let text = raw;
  for (let round = 0; round < MAX_DECODE_ROUNDS; round++) {
    if (looksLikeKey(text)) return true;
    const decoded = lenientDecode(text);
    if (decoded === text) break;
    text = decoded;
  }
  if (looksLikeKey(text)) return true;
  return [...url.searchParams.keys()].some((name) => CREDENTIAL_PARAMS.test(name));
}

export const isJsonContentType = (req: IncomingMessage): boolean =>
  /^application\/json\s*(;|$)/i.test(headerValue(req, "content-type") ?? "");

/** The streaming transport as tRPC itself detects it (its `getAcceptHeader`): `trpc-accept`, else `accept`. */
export function acceptsStream(req: IncomingMessage): boolean {
  const trpcAccept = headerValue(req, "trpc-accept");
  if (trpcAccept !== undefined) return trpcAccept === "application/jsonl";
  return (headerValue(req, "accept") ?? "").split(",").some((type) => type.trim() === "application/jsonl");
}

export function safeDecode(text: string): string | null {
  try {
    return decodeURIComponent(text);
  } catch {
    return null;
  }
}

/** Percent-decoding that keeps malformed escapes as they are instead of failing. */
function lenientDecode(text: string): string {
  return text.replace(/(?:%[0-9A-Fa-f]{2})+/g, (run) => safeDecode(run) ?? run).replaceAll("+", " ");
}

function headerValue(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}
