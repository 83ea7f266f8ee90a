// Step 1, outermost: every call gets a recorder and exactly one `final` audit record (with its
// token settlement, in the same transaction), including calls refused before their input is
// parsed. A streamed result is recorded when its last event (`done` or `error`) is about to
// leave, when it throws, or when the consumer leaves.
import { TRPCError } from "@trpc/server";
import { getHTTPStatusCodeFromError } from "@trpc/server/http";
import type { AuditOutcome, AuditRecord } from "../audit/record.ts";
import { describeCredential } from "../auth/authenticate.ts";
import type { Context, Recorded } from "../context.ts";
import { unavailable } from "../db-errors.ts";
import { clientClosed, isFloodCounted, reasonOf, ScopegateError } from "../errors.ts";
import type { AuditedOutput, AuditProjection, StreamEvent } from "./audit-projection.ts";
import { CallRecorder } from "./call-recorder.ts";
import type { Step } from "./t.ts";

// Errors carry this once their call's final record is written; the HTTP layer records the others
// (unknown procedure, wrong method, unreadable batch), which tRPC refuses before any middleware runs.
const RECORDED = Symbol("scopegate.recorded");

function markRecorded<E extends object>(error: E): E {
  if (!(RECORDED in error)) Object.defineProperty(error, RECORDED, { value: true });
  return error;
}

/** Whether the pipeline already wrote this error's final record. */
export const wasAudited = (error: object): boolean => RECORDED in error;

export const recordCall: Step<object, Recorded> = async ({ ctx, path, meta, getRawInput, next }) => {
  const call = new CallRecorder(path);
  const result = await next({ ctx: { call } });
  const finish = (error: TRPCError | null, audited: AuditedOutput | null) =>
    commitFinal(ctx, call, getRawInput, error, audited);
  if (result.ok && isAsyncIterable(result.data))
    return { ...result, data: recordedStream(result.data, meta?.audit, finish) };
  if (!result.ok) {
    await finish(markRecorded(result.error), null);
    return result;
  }
  let audited: AuditedOutput | null;
  try {
    audited = meta?.audit?.kind === "result" ? meta.audit.project(result.data) : null;
  } catch (cause) {
    // A projection that throws is a bug, recorded as one: no result leaves without its record.
    const error = markRecorded(new TRPCError({ code: "INTERNAL_SERVER_ERROR", cause }));
    await finish(error, null);
    throw error;
  }
  await finish(null, audited);
  return result;
};

function outcomeOf(error: TRPCError | null): AuditOutcome {
  if (!error) return "ok";
  if (error.code === "UNPROCESSABLE_CONTENT") return "rejected";
  // A call cut off by its client (499) was not refused: it counts as an error, never a denial.
  if (error.code === "CLIENT_CLOSED_REQUEST") return "error";
  return getHTTPStatusCodeFromError(error) >= 500 ? "error" : "denied";
}

// Raw input is kept only bounded (and the writer redacts it); it may be unparseable.
const MAX_RAW_INPUT = 8192;
async function boundedRawInput(getRawInput: () => Promise<unknown>): Promise<string | null> {
  try {
    const raw = await getRawInput();
    if (raw === undefined) return null;
    const text = JSON.stringify(raw);
    return text.length > MAX_RAW_INPUT ? text.slice(0, MAX_RAW_INPUT) : text;
  } catch {
    return null;
  }
}

/** Writes a call's one `final` record (with its settlement); throws SERVICE_UNAVAILABLE if it cannot. */
async function commitFinal(
  ctx: Context,
  call: CallRecorder,
  getRawInput: () => Promise<unknown>,
  error: TRPCError | null,
  audited: AuditedOutput | null,
): Promise<void> {
  const reason = error ? reasonOf(error) : null;
  const principal = call.principal;
  const credential = principal ? null : describeCredential(ctx);
  const record: AuditRecord = {
    phase: "final",
    requestId: ctx.request.requestId,
    callId: call.callId,
    keyId: principal?.keyId ?? credential?.parsedKeyId ?? null,
    keyFingerprint: credential?.fingerprint ?? null,
    owner: principal?.owner ?? null,
    endUser: principal?.endUser ?? null,
    procedure: call.procedure,
    scopes: call.scopes,
    outcome: outcomeOf(error),
    reason,
    input: await boundedRawInput(getRawInput),
    output: audited?.output ?? null,
    flags: call.flags,
    model: call.model,
    inputTokens: call.usage?.inputTokens ?? null,
    outputTokens: call.usage?.outputTokens ?? null,
    latencyMs: Math.round(performance.now() - call.startedAt),
    clientAddress: ctx.request.clientAddress,
    details: audited?.details ?? null,
  };
  if (reason && isFloodCounted(reason) && !ctx.flood.recordIndividually(record)) {
    ctx.metrics.recordCall(record);
    return;
  }
  const writeStarted = performance.now();
  try {
    // The call already waited out the database deadline (or was refused for it): a second wait
    // for its final record would break the 3 s bound, so the record goes straight to the spool.
    if (reason === "unavailable") throw error;
    const settlement = call.settlement();
    // The writer bounds each commit by the database deadline (queue time excluded).
    await (settlement ? ctx.audit.appendWith([record], settlement) : ctx.audit.append(record));
    ctx.metrics.observeStage("audit", (performance.now() - writeStarted) / 1000);
    ctx.metrics.recordCall(record);
  } catch (cause) {
    ctx.metrics.recordCall({ ...record, outcome: "error", reason: "unavailable" });
    // No response is released without its final record: fail closed.
    ctx.logger.error("audit write failed", { requestId: ctx.request.requestId, callId: call.callId, cause });
    // The caller gets a refusal, so that is what the fsync'd spool keeps, to be replayed into the
    // chain when the database is back; what the call would have returned is noted beside it.
    await ctx.audit
      .spool({
        ...record,
        outcome: "error",
        reason: "unavailable",
        output: null,
        details: { ...record.details, unwrittenOutcome: record.outcome, unwrittenReason: record.reason },
      })
      .catch((spoolError: unknown) =>
        ctx.logger.error("audit spool failed", { requestId: ctx.request.requestId, cause: spoolError }),
      );
    throw markRecorded(
      error instanceof ScopegateError && error.code === "SERVICE_UNAVAILABLE" ? error : unavailable(cause),
    );
  }
}

const isAsyncIterable = (value: unknown): value is AsyncIterable<unknown> =>
  typeof value === "object" && value !== null && Symbol.asyncIterator in value;

const isStreamEvent = (value: unknown): value is StreamEvent =>
  typeof value === "object" && value !== null && "type" in value;

/**
 * The failure a stream reported in-band (its `error` event), for the final record: code and
 * reason are all the record keeps of it (and all the client was told).
 */
const streamFailure = (event: Extract<StreamEvent, { type: "error" }>) =>
  new ScopegateError(event.code, event.reason, `The stream ended with an error (${event.reason}).`);

/**
 * Passes a procedure's stream through and writes its final record exactly once: before the
 * `done` or `error` event leaves, when the stream ends or throws, or when the consumer leaves.
 */
async function* recordedStream(
  source: AsyncIterable<unknown>,
  audit: AuditProjection | undefined,
  finish: (error: TRPCError | null, audited: AuditedOutput | null) => Promise<void>,
): AsyncGenerator<unknown, void, undefined> {
  let committed = false;
  const commit = async (error: TRPCError | null, audited: AuditedOutput | null = null) => {
    if (committed) return;
    committed = true;
    await finish(error, audited);
  };
  // What left as text: the stream's audit output.
  let streamed = "";
  try {
    for await (const event of source) {
      if (isStreamEvent(event)) {
        if (event.type === "delta") streamed += event.text;
        else if (event.type === "done")
          await commit(null, audit?.kind === "stream" ? audit.project(event, streamed) : null);
        else if (event.type === "error") await commit(streamFailure(event));
      }
      yield event;
    }
    await commit(null);
  } catch (cause) {
    const error = markRecorded(
      cause instanceof TRPCError ? cause : new TRPCError({ code: "INTERNAL_SERVER_ERROR", cause }),
    );
    await commit(error);
    throw error;
  } finally {
    if (!committed) await commit(clientClosed());
  }
}
