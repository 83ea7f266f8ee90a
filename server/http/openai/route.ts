// The OpenAI-compatible door: `POST /v1/chat/completions` and `GET /v1/models`. Requests pass
// the HTTP layer's front checks, are mapped onto the `chat` / `chatStream` / `keys.whoami`
// procedures through a tRPC caller (the same pipeline, records and limits as /trpc), and their
// results and refusals are mapped back to OpenAI's JSON, SSE chunks and error shape.
import type { IncomingMessage, ServerResponse } from "node:http";
import { TRPCError } from "@trpc/server";
import { getHTTPStatusCodeFromError } from "@trpc/server/http";
import { linkedAbort } from "../../abort.ts";
import type { ChatStreamEvent } from "../../ai/chat-stream.ts";
import { authenticate, bearerToken } from "../../auth/authenticate.ts";
import { type KeyEnv, parseKey } from "../../auth/key-format.ts";
import { type Context, createContext, type RequestInfo, type Services } from "../../context.ts";
import { reasonOf } from "../../errors.ts";
import { appRouter } from "../../routers/app.ts";
import { createCallerFactory, wasAudited } from "../../trpc.ts";
import { type HttpRefusal, REFUSALS } from "../envelope.ts";
import type { FrontChecks } from "../front.ts";
import { sendJson } from "../respond.ts";
import { errorPayload, fromTrpcError, type OpenAiError } from "./errors.ts";
import { type CompletionCall, parseCompletionRequest } from "./request.ts";
import { type CompletionIdentity, chunk, DONE, openAiUsage, sseEvent, writeEvent } from "./sse.ts";

export const OPENAI_PREFIX = "/v1/";

// The procedures behind each route: refusals before the call are audited under these names,
// so the records and metrics labels are those of the /trpc surface.
const ROUTES: Record<string, { method: "GET" | "POST"; procedure: string }> = {
  "/v1/chat/completions": { method: "POST", procedure: "chat" },
  "/v1/models": { method: "GET", procedure: "keys.whoami" },
};

const createCaller = createCallerFactory(appRouter);

interface Door {
  services: Services;
  front: FrontChecks;
  req: IncomingMessage;
  res: ServerResponse;
  info: RequestInfo;
}

/**
 * Answers a request at the door. `refusal`, when given, is one made in front of every route (a
 * key in the URL): it is answered in OpenAI's shape and audited under the route's procedure.
 */
export async function handleOpenAi(
  services: Services,
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
  info: RequestInfo,
  front: FrontChecks,
  refusal?: HttpRefusal,
): Promise<void> {
  const door: Door = { services, front, req, res, info };
  const route = ROUTES[url.pathname];
  const procedure = route?.procedure ?? null;
  if (refusal) return refuse(door, procedure, fromRefusal(refusal));
  if (!route) return refuse(door, null, fromRefusal(REFUSALS.notFound));
  if (req.method !== route.method) {
    return refuse(door, procedure, {
      ...fromRefusal(REFUSALS.methodNotSupported),
      message: `Use ${route.method}.`,
    });
  }
  if (route.method === "GET") return listModels(door);
  return completions(door);
}

async function completions(door: Door): Promise<void> {
  const { services, front, req, info } = door;
  if (!front.isJsonContentType(req)) return refuse(door, "chat", fromRefusal(REFUSALS.unsupportedMediaType));
  const read = await front.readBody(req);
  // The body never arrived (reset, timeout): nothing was run or charged; one record says why.
  if (typeof read === "object") return front.auditRefusal(services, info, "chat", read.cutOff);
  if (read === "too_large") {
    front.closeAfterDiscarding(door.res);
    return refuse(door, "chat", fromRefusal(REFUSALS.payloadTooLarge));
  }
  const body = read === "invalid_utf8" ? undefined : parseJson(read);
  if (body === undefined) return refuse(door, "chat", fromRefusal(REFUSALS.invalidJson));
  const parsed = parseCompletionRequest(body);
  if (!parsed.ok) return refuse(door, "chat", { status: 400, reason: "invalid_input", ...parsed.problem });
  const call = parsed.call;
  const models = modelsFor(services, keyEnvOf(info));
  if (!models.includes(call.model)) {
    // Who asks is settled first, as in every procedure: a caller without a valid key is told
    // that (and counted by the throttle), never which models exist.
    const ctx = createContext(services, info);
    const denied = await authenticate(ctx).then(
      () => null,
      (error: unknown) => error,
    );
    if (denied) return sendProcedureError(door, ctx, "chat", denied);
    return refuse(door, "chat", {
      status: 404,
      reason: "not_found",
      param: "model",
      message: `The model '${call.model}' does not exist or this key may not use it; see GET /v1/models.`,
    });
  }
  // OpenAI's `user` is the end user of the call; the header, when also sent, must agree.
  if (call.user !== undefined && info.endUser !== undefined && call.user !== info.endUser) {
    return refuse(door, "chat", {
      status: 400,
      reason: "invalid_end_user",
      param: "user",
      message: "user and x-end-user name different end users.",
    });
  }
  const ctx = createContext(services, { ...info, endUser: call.user ?? info.endUser });
  const abort = abortOnClose(door);
  const caller = createCaller(ctx, { signal: abort.signal });
  const identity: CompletionIdentity = {
    id: `chatcmpl-${info.requestId}`,
    created: Math.floor(ctx.clock.now().getTime() / 1000),
    model: call.model,
  };
  try {
    if (!call.stream) {
      const result = await caller.chat(call.input);
      return sendJson(door.res, 200, {
        id: identity.id,
        object: "chat.completion",
        created: identity.created,
        model: identity.model,
        system_fingerprint: null,
        choices: [
          {
            index: 0,
            message: { role: "assistant", content: result.message.content, refusal: null },
            logprobs: null,
            finish_reason: "stop",
          },
        ],
        usage: openAiUsage(result.usage),
      });
    }
    const events = await caller.chatStream(call.input);
    await streamCompletion(door, events, identity, call);
  } catch (error) {
    await sendProcedureError(door, ctx, call.stream ? "chatStream" : "chat", error);
  }
}

/** Relays chatStream's events (already through the output guard) as OpenAI chunks. */
async function streamCompletion(
  door: Door,
  events: AsyncGenerator<ChatStreamEvent>,
  identity: CompletionIdentity,
  call: CompletionCall,
): Promise<void> {
  const { res } = door;
  res.writeHead(200, { "content-type": "text/event-stream; charset=utf-8", connection: "keep-alive" });
  // With include_usage every chunk says `usage: null` and one last chunk carries the usage.
  const usageField = call.includeUsage ? null : undefined;
  let open = await writeEvent(
    res,
    sseEvent(chunk(identity, { delta: { role: "assistant", content: "" }, finish_reason: null }, usageField)),
  );
  // The stream is read to its end even after the client left: the pipeline ends the call (the
  // model is aborted through the caller's signal) and commits its final record on the way.
  for await (const event of events) {
    if (!open) continue;
    if (event.type === "delta") {
      open = await writeEvent(
        res,
        sseEvent(chunk(identity, { delta: { content: event.text }, finish_reason: null }, usageField)),
      );
    } else if (event.type === "done") {
      open = await writeEvent(
        res,
        sseEvent(chunk(identity, { delta: {}, finish_reason: "stop" }, usageField)),
      );
      if (open && call.includeUsage)
        open = await writeEvent(res, sseEvent(chunk(identity, null, event.usage)));
      if (open) await writeEvent(res, DONE);
    } else {
      // A failure after streaming began: OpenAI's in-stream error event (the SDKs raise it).
      const status = getHTTPStatusCodeFromError(new TRPCError({ code: event.code }));
      const message = `The completion failed after streaming began (${event.reason}).`;
      await writeEvent(res, sseEvent(errorPayload({ status, reason: event.reason, param: null, message })));
    }
  }
  res.end();
}

/** `GET /v1/models`: the models this key may use through the door (none without chat scopes). */
async function listModels(door: Door): Promise<void> {
  const { services, info } = door;
  const ctx = createContext(services, info);
  try {
    const key = await createCaller(ctx).keys.whoami();
    const chatting = key.scopes.includes("endpoint:chat") && key.scopes.includes("prompt-processing");
    const data = chatting
      ? modelsFor(services, key.env).map((id) => ({ id, object: "model", created: 0, owned_by: "scopegate" }))
      : [];
    sendJson(door.res, 200, { object: "list", data });
  } catch (error) {
    await sendProcedureError(door, ctx, "keys.whoami", error);
  }
}

/**
 * The model that answers a key: `test` keys only ever reach the offline model (as the pipeline
 * enforces); the env is public in the key's prefix, so this needs no lookup.
 */
function modelsFor(services: Services, env: KeyEnv | null): string[] {
  return env === "test" || services.model.name === "offline" ? ["offline"] : [services.config.model.name];
}

function keyEnvOf(info: RequestInfo): KeyEnv | null {
  const token = bearerToken(info.authorization);
  return token ? (parseKey(token)?.env ?? null) : null;
}

/** A client that leaves (or a draining server) aborts the call, as on /trpc. */
function abortOnClose(door: Door) {
  const abort = linkedAbort([door.services.shutdown]);
  door.res.on("close", () => {
    if (!door.res.writableFinished) abort.abort();
    abort.dispose();
  });
  return abort;
}

async function sendProcedureError(door: Door, ctx: Context, path: string, cause: unknown): Promise<void> {
  const error = cause instanceof TRPCError ? cause : new TRPCError({ code: "INTERNAL_SERVER_ERROR", cause });
  // The procedure's audit layer recorded its own refusals; anything else still gets its one final.
  if (!wasAudited(error)) await door.front.auditRefusal(door.services, door.info, path, reasonOf(error));
  if (reasonOf(error) === "internal_error") {
    door.services.logger.error("internal error", {
      requestId: door.info.requestId,
      path,
      error: error.cause ?? error,
    });
  }
  if (door.res.headersSent) {
    door.res.destroy();
    return;
  }
  send(door.res, fromTrpcError(error, ctx, path));
}

function fromRefusal(refusal: HttpRefusal): OpenAiError {
  return { status: refusal.status, reason: refusal.reason, message: refusal.message, param: null };
}

async function refuse(door: Door, procedure: string | null, error: OpenAiError): Promise<void> {
  await door.front.auditRefusal(door.services, door.info, procedure, error.reason);
  send(door.res, error);
}

function send(res: ServerResponse, error: OpenAiError): void {
  if (error.retryAfter !== undefined) res.setHeader("retry-after", String(error.retryAfter));
  sendJson(res, error.status, errorPayload(error));
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}
