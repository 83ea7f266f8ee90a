// The HTTP front: request ids, client addresses, body/batch/header bounds and content checks
// before tRPC runs (each refusal answered with the normal error envelope and audited), then
// tRPC's fetch handler at /trpc, and /healthz.
import {
  createServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
  STATUS_CODES,
} from "node:http";
import { BlockList, isIP, type Socket } from "node:net";
import type { AnyProcedure, TRPCError } from "@trpc/server";
import { fetchRequestHandler } from "@trpc/server/adapters/fetch";
import { linkedAbort } from "../abort.ts";
import type { AuditRecord } from "../audit/record.ts";
import { describeCredentialOf } from "../auth/authenticate.ts";
import { createContext, type RequestInfo, type Services } from "../context.ts";
import { type Reason, reasonOf, ScopegateError } from "../errors.ts";
import { looksLikeKey } from "../guard/redact.ts";
import { newCallId, newRequestId } from "../ids.ts";
import { checkReadiness } from "../ops/readiness.ts";
import type { InFlight } from "../ops/shutdown.ts";
import { appRouter } from "../routers/app.ts";
import { type Meta, wasAudited } from "../trpc.ts";
import { clientAddress } from "./client-address.ts";
import { errorEnvelope, type HttpRefusal, REFUSALS } from "./envelope.ts";
import { type FrontChecks, handleOpenAi, OPENAI_PREFIX } from "./openai/route.ts";
import { readStreamHead } from "./stream-status.ts";

export const MAX_BODY_BYTES = 1024 * 1024;
export const MAX_BATCH_CALLS = 50;
const MAX_HEADER_BYTES = 16 * 1024;
const TRPC_PREFIX = "/trpc/";
// Query parameters that carry credentials in other products; a key there has leaked into logs.
const CREDENTIAL_PARAMS = /^(?:key|api[_-]?key|apikey|token|access[_-]?token|authorization|bearer)$/i;
// Procedures whose result is a stream (marked `streamed` in their meta): tRPC can answer them
// only over the streaming transport, and finds that out only after the procedure ran (admitted,
// charged), so the HTTP layer asks first.
// (`_def.procedures` is tRPC's flat path -> procedure map, though typed as the nested record.)
const STREAMED_PROCEDURES: ReadonlySet<string> = new Set(
  Object.entries(appRouter._def.procedures as unknown as Record<string, AnyProcedure>)
    .filter(([, procedure]) => (procedure._def.meta as Meta | undefined)?.streamed)
    .map(([path]) => path),
);
// Layers of percent-encoding undone when looking for a key in a URL (`%2573` is `%73` is `s`).
const MAX_DECODE_ROUNDS = 4;

const SECURITY_HEADERS: Record<string, string> = {
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "cache-control": "no-store",
};

export interface HttpServerOptions {
  /** Extra routes (the demo page), tried before the 404. */
  extraRoutes?: (req: IncomingMessage, res: ServerResponse, requestId: string) => boolean;
  /** Counts requests in flight, so a draining server knows when it may stop. */
  inFlight?: InFlight;
  /** How long a request (head and body) may take to arrive; default 120 s. */
  requestTimeoutMs?: number;
}

const REQUEST_TIMEOUT_MS = 120_000;

export function createHttpServer(services: Services, options: HttpServerOptions = {}): Server {
  const requestTimeout = options.requestTimeoutMs ?? REQUEST_TIMEOUT_MS;
  const server = createServer(
    {
      maxHeaderSize: MAX_HEADER_BYTES,
      requestTimeout,
      headersTimeout: Math.min(60_000, requestTimeout),
      // How often Node looks for requests past their timeout (its default, 30 s, or finer).
      connectionsCheckingInterval: Math.min(30_000, Math.max(100, requestTimeout / 4)),
    },
    (req, res) => {
      const leave = options.inFlight?.enter();
      if (leave) res.once("close", leave);
      const arrival: Arrival = { requestId: newRequestId(), cutOff: null };
      const socket = req.socket;
      arrivals.set(socket, arrival);
      res.once("close", () => {
        if (arrivals.get(socket) === arrival) arrivals.delete(socket);
      });
      handle(services, options, req, res, arrival).catch((error: unknown) => {
        services.logger.error("unhandled request error", { error });
        if (!res.headersSent) res.writeHead(500, { "content-type": "application/json" });
        res.end();
      });
    },
  );
  // The request each connection is delivering to the handler right now, if any.
  const arrivals = new WeakMap<Socket, Arrival>();
  // Connections already answered here: the parser's later complaints about them are no request.
  const answered = new WeakSet<Socket>();
  const answer = (socket: Socket, refusal: HttpRefusal, requestId: string) => {
    answered.add(socket);
    answerOnSocket(socket, refusal, requestId);
  };
  server.on("clientError", (error: NodeJS.ErrnoException, socket: Socket) => {
    const refusal = clientErrorRefusal(error);
    const arrival = arrivals.get(socket);
    if (answered.has(socket)) {
      socket.destroy();
      return;
    }
    if (arrival) {
      // The handler owns this request (its body was still arriving): it records the cut-off
      // once its read ends, under this reason.
      arrival.cutOff = refusal?.reason ?? "client_closed";
      if (refusal) answer(socket, refusal, arrival.requestId);
      else socket.destroy();
      return;
    }
    // A connection reset before a request's head was complete (an idle keep-alive connection
    // closed by its client, a client giving up) is no request: nothing to answer or record.
    if (!refusal) {
      socket.destroy();
      return;
    }
    const requestId = newRequestId();
    const address = clientAddress(socket.remoteAddress, undefined, services.config.trustedProxies);
    void auditRefusal(
      services,
      { requestId, clientAddress: address, authorization: undefined, endUser: undefined },
      null,
      refusal.reason,
    );
    answer(socket, refusal, requestId);
  });
  return server;
}

/** A request being delivered: its id, and why it was cut off mid-way (set by `clientError`). */
interface Arrival {
  requestId: string;
  cutOff: Reason | null;
}

/** Answers on the raw socket (the parser gave up on it, so there is no response object) and closes. */
function answerOnSocket(socket: Socket, refusal: HttpRefusal, requestId: string): void {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const body = errorEnvelope(refusal, requestId);
  socket.end(
    `HTTP/1.1 ${refusal.status} ${STATUS_CODES[refusal.status]}\r\ncontent-type: application/json\r\nx-request-id: ${requestId}\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
  );
}

async function handle(
  services: Services,
  options: HttpServerOptions,
  req: IncomingMessage,
  res: ServerResponse,
  arrival: Arrival,
) {
  const requestId = arrival.requestId;
  res.setHeader("x-request-id", requestId);
  for (const [name, value] of Object.entries(SECURITY_HEADERS)) res.setHeader(name, value);
  const url = new URL(req.url ?? "/", "http://localhost");
  const info: RequestInfo = {
    requestId,
    clientAddress: clientAddress(
      req.socket.remoteAddress,
      headerValue(req, "x-forwarded-for"),
      services.config.trustedProxies,
    ),
    authorization: headerValue(req, "authorization"),
    endUser: headerValue(req, "x-end-user"),
  };
  applyCors(services, req, res);
  // A key in the URL (path or query, however encoded) has leaked into every log on its way: it
  // is refused on every route, and the URL is not recorded.
  if (urlCarriesCredential(req.url ?? "/", url)) {
    if (url.pathname.startsWith(OPENAI_PREFIX)) {
      await handleOpenAi(services, req, res, url, info, frontChecks(arrival), REFUSALS.keyInUrl);
    } else {
      await refuse(services, res, info, null, REFUSALS.keyInUrl);
    }
    return;
  }
  if (req.method === "OPTIONS") {
    res.writeHead(204).end();
    return;
  }
  if (url.pathname === "/healthz") {
    sendJson(res, 200, { status: "ok" });
    return;
  }
  if (url.pathname === "/readyz") {
    const readiness = await checkReadiness(services);
    sendJson(
      res,
      readiness.ready ? 200 : 503,
      readiness.ready ? { status: "ready" } : { status: "unready", reason: readiness.reason },
    );
    return;
  }
  if (url.pathname === "/metrics" && services.config.ops.metricsPort === null) {
    await serveMetrics(services, req, res);
    return;
  }
  if (url.pathname.startsWith(TRPC_PREFIX)) {
    await handleTrpc(services, req, res, url, info, arrival);
    return;
  }
  if (url.pathname.startsWith(OPENAI_PREFIX)) {
    await handleOpenAi(services, req, res, url, info, frontChecks(arrival));
    return;
  }
  if (options.extraRoutes?.(req, res, requestId)) return;
  await refuse(services, res, info, null, REFUSALS.notFound);
}

// Socket-level failures (as opposed to a request the parser could not read).
const SOCKET_ERRORS = new Set(["ECONNRESET", "EPIPE", "ETIMEDOUT", "ECONNABORTED"]);
const TIMEOUT_ERRORS = new Set(["ERR_HTTP_REQUEST_TIMEOUT", "ERR_HTTP_HEADERS_TIMEOUT"]);

/**
 * How a connection-level error is answered and recorded, or null for a socket error (no request
 * to answer). A reset or timeout is never `invalid_json`, and like every refusal before tRPC it
 * charges nothing.
 */
function clientErrorRefusal(error: NodeJS.ErrnoException): HttpRefusal | null {
  const code = error.code ?? "";
  if (code === "HPE_HEADER_OVERFLOW") return REFUSALS.headersTooLarge;
  if (TIMEOUT_ERRORS.has(code)) return REFUSALS.requestTimeout;
  if (SOCKET_ERRORS.has(code)) return null;
  return REFUSALS.invalidJson;
}

/**
 * Prometheus exposition, only to allow-listed socket addresses (loopback by default). The
 * socket address, not X-Forwarded-For, decides: a header cannot open the metrics.
 */
export async function serveMetrics(
  services: Services,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const peer = clientAddress(req.socket.remoteAddress, undefined, new BlockList());
  const family = isIP(peer);
  const allowed =
    family !== 0 && services.config.ops.metricsAllow.check(peer, family === 4 ? "ipv4" : "ipv6");
  if (!allowed || req.method !== "GET") {
    sendRaw(res, 404, errorEnvelope(REFUSALS.notFound, String(res.getHeader("x-request-id") ?? "")));
    return;
  }
  const body = await services.metrics.exposition();
  res.writeHead(200, {
    "content-type": services.metrics.contentType,
    "content-length": Buffer.byteLength(body),
  });
  res.end(body);
}

async function handleTrpc(
  services: Services,
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
  info: RequestInfo,
  arrival: Arrival,
) {
  const fullPath = safeDecode(url.pathname.slice(TRPC_PREFIX.length));
  if (fullPath === null) return refuse(services, res, info, null, REFUSALS.notFound);
  // Audit keeps a bounded path; the batch bound counts the untruncated one.
  const path = fullPath.slice(0, 512);
  if (req.method !== "GET" && req.method !== "POST")
    return refuse(services, res, info, path, REFUSALS.methodNotSupported);
  const calls = url.searchParams.get("batch") === "1" ? fullPath.split(",") : [fullPath];
  if (calls.length > MAX_BATCH_CALLS) return refuse(services, res, info, path, REFUSALS.batchTooLarge);
  const streaming = acceptsStream(req);
  if (!streaming && calls.some((call) => STREAMED_PROCEDURES.has(call))) {
    return refuse(services, res, info, path, REFUSALS.streamTransportRequired);
  }
  let body: string | undefined;
  if (req.method === "POST") {
    if (!isJsonContentType(req)) return refuse(services, res, info, path, REFUSALS.unsupportedMediaType);
    const read = await readBody(req, arrival);
    // The body never arrived (reset, timeout): nothing was run or charged; one record says why.
    if (typeof read === "object") return auditRefusal(services, info, path, read.cutOff);
    if (read === "too_large") return refuse(services, res, info, path, REFUSALS.payloadTooLarge);
    if (read === "invalid_utf8") return refuse(services, res, info, path, REFUSALS.invalidJson);
    body = read;
  }
  // tRPC would answer unparseable JSON as BAD_REQUEST with the parser's message, per call;
  // the contract is one PARSE_ERROR `invalid_json` for the request.
  if (!isJsonOrEmpty(body) || !isJsonOrEmpty(url.searchParams.get("input") ?? undefined)) {
    return refuse(services, res, info, path, REFUSALS.invalidJson);
  }

  const pending: Promise<unknown>[] = [];
  // A draining server that gives up on a call aborts it like a client that left.
  const abort = linkedAbort([services.shutdown]);
  res.on("close", () => {
    // Only a response cut short aborts (an abort reason is an exception with a stack to build).
    if (!res.writableFinished) abort.abort();
    abort.dispose();
  });
  const request = new Request(url.href, {
    method: req.method,
    headers: toHeaders(req),
    body,
    signal: abort.signal,
  });
  let contextCreated = false;
  const response = await fetchRequestHandler({
    endpoint: "/trpc",
    req: request,
    router: appRouter,
    maxBatchSize: MAX_BATCH_CALLS,
    createContext: () => {
      contextCreated = true;
      return createContext(services, info);
    },
    onError: ({ error, path: callPath }) => {
      if (!wasAudited(error)) pending.push(auditRefusal(services, info, callPath ?? path, reasonOf(error)));
      if (reasonOf(error) === "internal_error") {
        services.logger.error("internal error", {
          requestId: info.requestId,
          path: callPath,
          error: error.cause ?? error,
        });
      }
    },
    responseMeta: ({ errors }) => retryAfterHeader(errors),
  });
  // No response leaves before every call's final record is committed.
  await Promise.allSettled(pending);
  if (!contextCreated) return sendRefusalWithRequestId(res, response, info.requestId);
  await sendFetchResponse(res, response, streaming);
}

/**
 * tRPC refuses some requests (an unreadable batch) before it creates a context, so their error
 * shapes carry no request id; the HTTP layer knows it. Such a response is always one JSON body.
 */
async function sendRefusalWithRequestId(res: ServerResponse, response: Response, requestId: string) {
  const body = (await response.json()) as unknown;
  for (const item of Array.isArray(body) ? body : [body]) {
    const data = (item as { error?: { data?: { requestId?: unknown } } } | null)?.error?.data;
    if (data && data.requestId == null) data.requestId = requestId;
  }
  response.headers.forEach((value, name) => {
    res.setHeader(name, value);
  });
  sendRaw(res, response.status, JSON.stringify(body));
}

/** `Retry-After` only when every error is a 429; `error.data.retryAfterMs` stays authoritative. */
function retryAfterHeader(errors: readonly TRPCError[]): { headers?: Record<string, string> } {
  if (errors.length === 0 || errors.some((e) => e.code !== "TOO_MANY_REQUESTS")) return {};
  const waits = errors.map((e) => (e instanceof ScopegateError ? (e.details.retryAfterMs ?? 0) : 0));
  return { headers: { "retry-after": String(Math.max(1, Math.ceil(Math.max(...waits) / 1000))) } };
}

async function refuse(
  services: Services,
  res: ServerResponse,
  info: RequestInfo,
  path: string | null,
  refusal: HttpRefusal,
) {
  await auditRefusal(services, info, path, refusal.reason);
  if (refusal.status === 413) closeAfterDiscarding(res);
  sendRaw(res, refusal.status, errorEnvelope(refusal, info.requestId));
}

// How long a refused oversized body is still read (and discarded) before the socket is cut.
const LINGER_MS = 2_000;

/**
 * After a 413 the client may still be sending its body. Closing at once would reset the
 * connection and can destroy the 413 before the client reads it, so the rest of the body is
 * discarded for a moment (lingering close) and the connection then ends.
 */
function closeAfterDiscarding(res: ServerResponse): void {
  const { req } = res;
  // Taken now: Node detaches the socket from the request once the response is done.
  const socket: Socket | null = req.socket;
  if (!socket) return;
  // Node would otherwise close (and, with unread data, reset) the socket right after the
  // response when the client asked for `connection: close`; this function closes it instead.
  res.shouldKeepAlive = true;
  res.once("finish", () => {
    if (req.complete) {
      socket.end();
      return;
    }
    const timer = setTimeout(() => socket.destroy(), LINGER_MS);
    req.once("end", () => {
      clearTimeout(timer);
      socket.end();
    });
  });
}

/** One `final` record for a request refused outside the procedure pipeline. */
async function auditRefusal(
  services: Services,
  info: RequestInfo,
  path: string | null,
  reason: Reason,
): Promise<void> {
  const credential = describeCredentialOf(services.config, info.authorization);
  const record: AuditRecord = {
    phase: "final",
    requestId: info.requestId,
    callId: newCallId(),
    keyId: credential?.parsedKeyId ?? null,
    keyFingerprint: credential?.fingerprint ?? null,
    procedure: path,
    outcome: "denied",
    reason,
    clientAddress: info.clientAddress,
  };
  services.metrics.recordCall(record);
  if (!services.flood.recordIndividually(record)) return;
  try {
    // The refusal reached the caller either way; if the database is down it waits in the spool.
    await services.audit.appendOrSpool([record]);
  } catch (error) {
    services.logger.error("audit write failed for a refused request", { requestId: info.requestId, error });
  }
}

const isJsonContentType = (req: IncomingMessage): boolean =>
  /^application\/json\s*(;|$)/i.test(headerValue(req, "content-type") ?? "");

// The OpenAI-compatible door runs the same front checks and audits its refusals the same way.
const frontChecks = (arrival: Arrival): FrontChecks => ({
  isJsonContentType,
  readBody: (req) => readBody(req, arrival),
  auditRefusal,
  closeAfterDiscarding,
});

/**
 * The body, or `cutOff` when it never arrived whole: the client reset it, or `clientError`
 * already answered the request on its socket (a timeout) and left the reason to record.
 */
async function readBody(
  req: IncomingMessage,
  arrival: Arrival,
): Promise<string | "too_large" | "invalid_utf8" | { cutOff: Reason }> {
  const read = await readBoundedBody(req);
  if (read === "aborted" || arrival.cutOff) return { cutOff: arrival.cutOff ?? "client_closed" };
  return read;
}

async function readBoundedBody(
  req: IncomingMessage,
): Promise<string | "too_large" | "invalid_utf8" | "aborted"> {
  const declared = Number(req.headers["content-length"] ?? "0");
  if (declared > MAX_BODY_BYTES) {
    req.resume();
    return "too_large";
  }
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of req as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        req.resume();
        return "too_large";
      }
      chunks.push(chunk);
    }
  } catch {
    // The socket was reset or timed out mid-body: not a malformed body.
    return "aborted";
  }
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(Buffer.concat(chunks));
  } catch {
    return "invalid_utf8";
  }
}

function safeDecode(text: string): string | null {
  try {
    return decodeURIComponent(text);
  } catch {
    return null;
  }
}

/**
 * Whether the URL carries a credential: a key (in the path or query, after undoing every layer
 * of percent-encoding) or a query parameter named like one.
 */
function urlCarriesCredential(raw: string, url: URL): boolean {
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

/** Percent-decoding that keeps malformed escapes as they are instead of failing. */
function lenientDecode(text: string): string {
  return text.replace(/(?:%[0-9A-Fa-f]{2})+/g, (run) => safeDecode(run) ?? run).replaceAll("+", " ");
}

/** The streaming transport as tRPC itself detects it (its `getAcceptHeader`): `trpc-accept`, else `accept`. */
function acceptsStream(req: IncomingMessage): boolean {
  const trpcAccept = headerValue(req, "trpc-accept");
  if (trpcAccept !== undefined) return trpcAccept === "application/jsonl";
  return (headerValue(req, "accept") ?? "").split(",").some((type) => type.trim() === "application/jsonl");
}

function isJsonOrEmpty(text: string | undefined): boolean {
  if (text === undefined || text === "") return true;
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

function headerValue(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function toHeaders(req: IncomingMessage): Headers {
  const headers = new Headers();
  for (const [name, value] of Object.entries(req.headers)) {
    if (value === undefined || name === "content-length" || name === "transfer-encoding") continue;
    headers.set(name, Array.isArray(value) ? value.join(", ") : value);
  }
  return headers;
}

function applyCors(services: Services, req: IncomingMessage, res: ServerResponse) {
  const origin = headerValue(req, "origin");
  if (!origin || !services.config.corsOrigins.includes(origin)) return;
  res.setHeader("access-control-allow-origin", origin);
  res.setHeader("vary", "origin");
  res.setHeader("access-control-allow-methods", "GET, POST, OPTIONS");
  res.setHeader("access-control-allow-headers", "authorization, content-type, x-end-user, trpc-accept");
  res.setHeader("access-control-expose-headers", "x-request-id, retry-after");
}

async function sendFetchResponse(res: ServerResponse, response: Response, streamed: boolean) {
  response.headers.forEach((value, name) => {
    res.setHeader(name, value);
  });
  if (!response.body) {
    res.writeHead(response.status).end();
    return;
  }
  if (!streamed) {
    // One JSON body: read whole, sent with its length (cheaper than piping a web stream).
    const payload = Buffer.from(await response.arrayBuffer());
    res.writeHead(response.status, { "content-length": payload.length }).end(payload);
    return;
  }
  // A stream refused before its first event keeps the refusal's HTTP status.
  const head = await readStreamHead(response.body);
  const status = head.refusal?.data?.httpStatus;
  if (head.refusal && typeof status === "number") {
    await head.reader.cancel().catch(() => {});
    const wait = head.refusal.data?.retryAfterMs;
    if (status === 429 && typeof wait === "number")
      res.setHeader("retry-after", String(Math.max(1, Math.ceil(wait / 1000))));
    res.removeHeader("transfer-encoding");
    sendRaw(res, status, JSON.stringify({ error: head.refusal }));
    return;
  }
  res.writeHead(response.status);
  for (const chunk of head.chunks) res.write(chunk);
  res.on("close", () => {
    head.reader.cancel().catch(() => {});
  });
  try {
    for (;;) {
      const { done, value } = await head.reader.read();
      if (done) break;
      res.write(value);
    }
    res.end();
  } catch {
    res.destroy();
  }
}

function sendJson(res: ServerResponse, status: number, value: unknown) {
  sendRaw(res, status, JSON.stringify(value));
}

function sendRaw(res: ServerResponse, status: number, body: string) {
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(body) });
  res.end(body);
}
