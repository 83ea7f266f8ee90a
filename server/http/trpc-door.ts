// The tRPC door: /trpc/* served by tRPC's node-http adapter (which reads the body within its
// bound, parses it once, and writes streams with backpressure), behind the checks tRPC does not
// make: method, batch size, streamed procedures, content type. Every refusal tRPC makes outside
// the pipeline is recorded once, and answered with the request id even when no context exists.
import type { IncomingMessage, ServerResponse } from "node:http";
import { type AnyProcedure, getTRPCErrorShape, type TRPCError } from "@trpc/server";
import { nodeHTTPRequestHandler } from "@trpc/server/adapters/node-http";
import { getHTTPStatusCodeFromError, type TRPCRequestInfo } from "@trpc/server/http";
import { MAX_BATCH_CALLS } from "../../client/limits.ts";
import { type Context, createContext, type RequestInfo, type Services } from "../context.ts";
import { reasonOf, ScopegateError } from "../errors.ts";
import { appRouter } from "../routers/app.ts";
import { type Meta, wasAudited } from "../trpc.ts";
import { type Arrival, type BodyWatch, MAX_BODY_BYTES, watchBody } from "./body.ts";
import { type HttpRefusal, REFUSALS } from "./envelope.ts";
import { acceptsStream, isJsonContentType, safeDecode } from "./front.ts";
import { auditRefusal, closeAfterDiscarding, refuse } from "./refusal.ts";
import { type Replacement, ResponseGate } from "./response-gate.ts";

export const TRPC_PREFIX = "/trpc/";

// Procedures whose result is a stream (marked `streamed` in their meta): tRPC can answer them
// only over the streaming transport, and finds that out only after the procedure ran (admitted,
// charged), so the HTTP layer asks first.
// (`_def.procedures` is tRPC's flat path -> procedure map, though typed as the nested record.)
const STREAMED_PROCEDURES: ReadonlySet<string> = new Set(
  Object.entries(appRouter._def.procedures as unknown as Record<string, AnyProcedure>)
    .filter(([, procedure]) => (procedure._def.meta as Meta | undefined)?.streamed)
    .map(([path]) => path),
);

export async function handleTrpc(
  services: Services,
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
  info: RequestInfo,
  arrival: Arrival,
): Promise<void> {
  const rawPath = url.pathname.slice(TRPC_PREFIX.length);
  const fullPath = safeDecode(rawPath);
  if (fullPath === null) return refuse(services, res, info, null, REFUSALS.notFound);
  // Audit keeps a bounded path; the batch bound counts the untruncated one.
  const path = fullPath.slice(0, 512);
  const streaming = acceptsStream(req);
  const front = frontRefusal(req, url, fullPath, streaming);
  if (front) return refuse(services, res, info, path, front);

  const pending: Promise<void>[] = [];
  let refusedEarly = false;
  // A single streamed call is held until it settled; a streamed batch answers 200 at once.
  const singleStream = streaming && !fullPath.includes(",");
  const gate = new ResponseGate(res, {
    holdStreamHead: singleStream,
    // No answer leaves before every call's final record is committed.
    before: () => Promise.allSettled(pending),
  });
  // Attached in the same tick as tRPC's reader (below), so both see every chunk.
  const watch = watchBody(req, arrival);
  await nodeHTTPRequestHandler({
    req,
    res: gate.res,
    path: rawPath,
    router: appRouter,
    maxBodySize: MAX_BODY_BYTES,
    createContext: async ({ info: request }) => {
      await readInputs(request, watch, res, gate);
      return createContext(services, info);
    },
    onError: ({ error, path: callPath, ctx, input, type }) => {
      if (reasonOf(error) === "internal_error") {
        services.logger.error("internal error", {
          requestId: info.requestId,
          path: callPath,
          error: error.cause ?? error,
        });
      }
      if (ctx === undefined) {
        // Refused before a context existed (tRPC's own request checks, or the inputs read in
        // createContext): one refusal for the request however many calls it holds, answered
        // with the request id that tRPC's answer would lack.
        if (refusedEarly) return;
        refusedEarly = true;
        pending.push(auditRefusal(services, info, path, reasonOf(error)));
        gate.replace(refusalAnswer(error, { ctx, path: undefined, input: undefined, type: "unknown" }, info));
        return;
      }
      if (!wasAudited(error)) pending.push(auditRefusal(services, info, callPath ?? path, reasonOf(error)));
      // A streamed call refused before its first event: answered like any other call.
      if (singleStream && callPath !== undefined) {
        gate.replace(refusalAnswer(error, { ctx, path: callPath, input, type }, info));
      }
    },
    responseMeta: ({ errors }) => retryAfterHeader(errors),
  });
}

/** The refusals made from the URL and headers alone, before tRPC runs. */
function frontRefusal(
  req: IncomingMessage,
  url: URL,
  fullPath: string,
  streaming: boolean,
): HttpRefusal | null {
  if (req.method !== "GET" && req.method !== "POST") return REFUSALS.methodNotSupported;
  const calls = url.searchParams.get("batch") === "1" ? fullPath.split(",") : [fullPath];
  if (calls.length > MAX_BATCH_CALLS) return REFUSALS.batchTooLarge;
  if (!streaming && calls.some((call) => STREAMED_PROCEDURES.has(call))) {
    return REFUSALS.streamTransportRequired;
  }
  if (req.method === "POST" && !isJsonContentType(req)) return REFUSALS.unsupportedMediaType;
  return null;
}

/**
 * Reads the request's inputs (body or `?input=`) once, before any call runs, through tRPC's own
 * reader: a body that is too large, not UTF-8 JSON, or cut off is one refusal for the request,
 * not one per call of a batch (tRPC would read the inputs lazily, in each call).
 */
async function readInputs(
  request: TRPCRequestInfo,
  watch: BodyWatch,
  res: ServerResponse,
  gate: ResponseGate,
): Promise<void> {
  const first = request.calls[0];
  if (!first) return;
  let failure: unknown = null;
  const cutOff = await Promise.race([
    first.getRawInput().then(
      () => null,
      (error: unknown) => {
        failure = error;
        return null;
      },
    ),
    watch.cutOff,
  ]);
  if (cutOff) {
    // Nobody to answer (a reset), or answered on the socket already (a timeout): only recorded.
    gate.drop();
    throw new ScopegateError("CLIENT_CLOSED_REQUEST", cutOff, "The request did not arrive whole.");
  }
  if (isTooLarge(failure)) {
    closeAfterDiscarding(res);
    throw refusalError(REFUSALS.payloadTooLarge);
  }
  // The parser's own message ("Unexpected token … at position …") is not passed on.
  if (!watch.utf8 || isJsonSyntaxError(failure)) throw refusalError(REFUSALS.invalidJson);
  if (failure) throw failure;
}

const isTooLarge = (error: unknown) =>
  error instanceof Error && "code" in error && error.code === "PAYLOAD_TOO_LARGE";
const isJsonSyntaxError = (error: unknown) => error instanceof Error && error.cause instanceof SyntaxError;

function refusalError(refusal: HttpRefusal): ScopegateError {
  return new ScopegateError(refusal.code, refusal.reason, refusal.message);
}

/** The error as tRPC shapes it for this call, with the request id filled in. */
function refusalAnswer(
  error: TRPCError,
  call: {
    ctx: Context | undefined;
    path: string | undefined;
    input: unknown;
    type: Parameters<typeof getTRPCErrorShape>[0]["type"];
  },
  info: RequestInfo,
): Replacement {
  const shape = getTRPCErrorShape({ config: appRouter._def._config, error, ...call });
  const body = {
    error: { ...shape, data: { ...shape.data, requestId: shape.data.requestId ?? info.requestId } },
  };
  return {
    status: getHTTPStatusCodeFromError(error),
    headers: retryAfterHeader([error]).headers ?? {},
    body: JSON.stringify(body),
  };
}

/** `Retry-After` only when every error is a 429; `error.data.retryAfterMs` stays authoritative. */
function retryAfterHeader(errors: readonly TRPCError[]): { headers?: Record<string, string> } {
  if (errors.length === 0 || errors.some((e) => e.code !== "TOO_MANY_REQUESTS")) return {};
  const waits = errors.map((e) => (e instanceof ScopegateError ? (e.details.retryAfterMs ?? 0) : 0));
  return { headers: { "retry-after": String(Math.max(1, Math.ceil(Math.max(...waits) / 1000))) } };
}
