// The HTTP server: one node:http server with bounded heads and arrival times, connection-level
// errors answered and recorded once, and each request routed after the front checks to its
// door: tRPC at /trpc, the OpenAI-compatible routes at /v1, operations endpoints, extra routes.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { Socket } from "node:net";
import type { Services } from "../context.ts";
import { newRequestId } from "../ids.ts";
import type { InFlight } from "../ops/shutdown.ts";
import { type Arrival, readBody } from "./body.ts";
import { clientAddress } from "./client-address.ts";
import { type HttpRefusal, REFUSALS } from "./envelope.ts";
import {
  type FrontChecks,
  isJsonContentType,
  requestInfo,
  setCommonHeaders,
  urlCarriesCredential,
} from "./front.ts";
import { handleOpenAi, OPENAI_PREFIX } from "./openai/route.ts";
import { serveOps } from "./ops-routes.ts";
import { auditRefusal, closeAfterDiscarding, refuse } from "./refusal.ts";
import { answerOnSocket } from "./respond.ts";
import { handleTrpc, TRPC_PREFIX } from "./trpc-door.ts";

const MAX_HEADER_BYTES = 16 * 1024;
const REQUEST_TIMEOUT_MS = 120_000;

export interface HttpServerOptions {
  /** Extra routes (the demo page), tried before the 404. */
  extraRoutes?: (req: IncomingMessage, res: ServerResponse, requestId: string) => boolean;
  /** Counts requests in flight, so a draining server knows when it may stop. */
  inFlight?: InFlight;
  /** How long a request (head and body) may take to arrive; default 120 s. */
  requestTimeoutMs?: number;
}

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

async function handle(
  services: Services,
  options: HttpServerOptions,
  req: IncomingMessage,
  res: ServerResponse,
  arrival: Arrival,
) {
  const { requestId } = arrival;
  const url = new URL(req.url ?? "/", "http://localhost");
  const openAi = url.pathname.startsWith(OPENAI_PREFIX);
  setCommonHeaders(services, req, res, requestId, openAi);
  const info = requestInfo(services, req, requestId);
  // The OpenAI-compatible door runs the same front checks and audits its refusals the same way.
  const front: FrontChecks = {
    isJsonContentType,
    readBody: (request) => readBody(request, res, arrival),
    auditRefusal,
    closeAfterDiscarding,
  };
  // A key in the URL (path or query, however encoded) has leaked into every log on its way: it
  // is refused on every route, and the URL is not recorded.
  if (urlCarriesCredential(req.url ?? "/", url)) {
    if (openAi) await handleOpenAi(services, req, res, url, info, front, REFUSALS.keyInUrl);
    else await refuse(services, res, info, null, REFUSALS.keyInUrl);
    return;
  }
  if (req.method === "OPTIONS") {
    res.writeHead(204).end();
    return;
  }
  if (await serveOps(services, req, res, url.pathname)) return;
  if (url.pathname.startsWith(TRPC_PREFIX)) return handleTrpc(services, req, res, url, info, arrival);
  if (openAi) return handleOpenAi(services, req, res, url, info, front);
  if (options.extraRoutes?.(req, res, requestId)) return;
  await refuse(services, res, info, null, REFUSALS.notFound);
}
