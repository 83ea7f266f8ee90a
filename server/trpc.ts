// The one tRPC instance and its procedure builders.
//
// 1. `auditedProcedure`: the audit middleware is outermost, so it sees every call, including
//    those refused before their input is parsed.
// 2. `scopedProcedure({ scopes, input, inputScopes })`: every AI and admin procedure. In tRPC
//    v11 `.input()` runs where it is chained, so input-derived scopes are checked after it:
//    authenticate -> procedure scopes -> input -> input scopes -> admission -> handler.
// 3. `publicProcedure`: explicitly public (audited, no key). A test walks the router and fails
//    on any procedure that is neither.
import { initTRPC, TRPCError } from "@trpc/server";
import { getHTTPStatusCodeFromError } from "@trpc/server/http";
import { z } from "zod";
import type { FixedStep } from "../db/index.ts";
import type { AuditOutcome, AuditRecord } from "./audit/record.ts";
import { admit } from "./auth/admission.ts";
import { authenticate, describeCredential } from "./auth/authenticate.ts";
import type { Principal } from "./auth/principal.ts";
import { missingScopes, type Scope } from "./auth/scopes.ts";
import type { Context } from "./context.ts";
import { unavailable } from "./db-errors.ts";
import { clientClosed, fail, isFloodCounted, reasonOf, ScopegateError } from "./errors.ts";
import { newCallId } from "./ids.ts";
import { takeRateSlot } from "./keys/rate-only.ts";
import type { CallBudget } from "./limits/token-budget.ts";
import type { ModelUsage } from "./model/provider.ts";

export interface Meta {
  access: "scoped" | "public";
  scopes?: readonly Scope[];
  /**
   * The result is a stream (a mutation returning an async generator, which tRPC cannot tell
   * from its type): the HTTP layer refuses it up front without the streaming transport.
   */
  streamed?: true;
}

/** What one call did, filled in by the pipeline and read by the audit layer. */
export interface CallState {
  callId: string;
  /** The procedure's path (e.g. `chat`), for per-procedure settings such as guard thresholds. */
  procedure: string;
  startedAt: number;
  principal: Principal | null;
  scopesExercised: string[];
  flags: string[];
  model: string | null;
  usage: ModelUsage | null;
  /** What the audit record keeps of the result; key-minting procedures never put the key here. */
  auditOutput: string | null;
  auditDetails: Record<string, unknown> | null;
  /** The input guard's verdict on this call's prompt; blocked and flagged prompts pay a penalty. */
  guardVerdict: "allow" | "flag" | "block" | null;
  /** The error a streamed call reported in-band (its last event), for the final record. */
  failure: TRPCError | null;
  /** The tokens the call may spend on model rounds (set by admission); null: not admitted. */
  budget: CallBudget | null;
  /** Token settlement and penalties, committed with the final record (set by admission); null: nothing to change. */
  settlement: (() => FixedStep<void> | null) | null;
}

const t = initTRPC
  .context<Context>()
  .meta<Meta>()
  .create({
    // Stack traces are added by the formatter only when config says development.
    isDev: false,
    errorFormatter({ shape, error, ctx }) {
      const reason = reasonOf(error);
      const isDev = ctx?.config.isDev ?? false;
      const zodError = error.cause instanceof z.ZodError ? z.flattenError(error.cause) : null;
      // Validation details go in fieldErrors; internal messages never leave in production.
      const message = zodError
        ? "Invalid input."
        : reason === "internal_error" && !isDev
          ? "Internal server error."
          : error.message;
      return {
        code: shape.code,
        message,
        data: {
          code: shape.data.code,
          httpStatus: shape.data.httpStatus,
          path: shape.data.path,
          reason,
          // Without a context (tRPC refused the request before making one) the HTTP layer adds it.
          requestId: ctx?.request.requestId ?? null,
          ...(error instanceof ScopegateError ? error.details : {}),
          ...(zodError ? { fieldErrors: zodError.fieldErrors, formErrors: zodError.formErrors } : {}),
          ...(isDev && error.stack ? { stack: error.stack } : {}),
        },
      };
    },
  });

export const router = t.router;
export const createCallerFactory = t.createCallerFactory;

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

// Errors whose call the audit middleware recorded; the HTTP layer records the others (unknown
// procedure, wrong method), which tRPC refuses before any middleware runs.
const auditedErrors = new WeakSet<object>();
export const wasAudited = (error: object): boolean => auditedErrors.has(error);

const auditCall = t.middleware(async ({ ctx, path, getRawInput, next }) => {
  const call: CallState = {
    callId: newCallId(),
    procedure: path,
    startedAt: performance.now(),
    principal: null,
    scopesExercised: [],
    flags: [],
    model: null,
    usage: null,
    auditOutput: null,
    auditDetails: null,
    guardVerdict: null,
    failure: null,
    budget: null,
    settlement: null,
  };
  const result = await next({ ctx: { call } });
  const finish = (error: TRPCError | null) => commitFinal(ctx, call, path, getRawInput, error);
  // A streamed result is audited when the stream ends, fails or is abandoned.
  if (result.ok && isAsyncIterable(result.data))
    return { ...result, data: auditedStream(result.data, call, finish) };
  await finish(result.ok ? null : result.error);
  return result;
});

/** Writes a call's one `final` record (with its settlement); throws SERVICE_UNAVAILABLE if it cannot. */
async function commitFinal(
  ctx: Context,
  call: CallState,
  path: string,
  getRawInput: () => Promise<unknown>,
  error: TRPCError | null,
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
    procedure: path,
    scopes: call.scopesExercised,
    outcome: outcomeOf(error),
    reason,
    input: await boundedRawInput(getRawInput),
    output: error ? null : call.auditOutput,
    flags: call.flags,
    model: call.model,
    inputTokens: call.usage?.inputTokens ?? null,
    outputTokens: call.usage?.outputTokens ?? null,
    latencyMs: Math.round(performance.now() - call.startedAt),
    clientAddress: ctx.request.clientAddress,
    details: call.auditDetails,
  };
  if (error) auditedErrors.add(error);
  if (reason && isFloodCounted(reason) && !ctx.flood.recordIndividually(record)) {
    ctx.metrics.recordCall(record);
    return;
  }
  const writeStarted = performance.now();
  try {
    // The call already waited out the database deadline (or was refused for it): a second wait
    // for its final record would break the 3 s bound, so the record goes straight to the spool.
    if (reason === "unavailable") throw error;
    const settlement = call.settlement?.();
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
    const failure =
      error instanceof ScopegateError && error.code === "SERVICE_UNAVAILABLE" ? error : unavailable(cause);
    auditedErrors.add(failure);
    throw failure;
  }
}

const isAsyncIterable = (value: unknown): value is AsyncIterable<unknown> =>
  typeof value === "object" && value !== null && Symbol.asyncIterator in value;

// Events a streamed handler marks as its last: the final record is committed before they leave.
const lastEvents = new WeakSet<object>();
export function lastEvent<T extends object>(event: T): T {
  lastEvents.add(event);
  return event;
}

/**
 * Passes a procedure's stream through and writes its final record exactly once: before the
 * event marked `lastEvent`, when the stream ends or throws, or when the consumer leaves.
 */
async function* auditedStream(
  source: AsyncIterable<unknown>,
  call: CallState,
  finish: (error: TRPCError | null) => Promise<void>,
): AsyncGenerator<unknown, void, undefined> {
  let committed = false;
  const commit = async (error: TRPCError | null) => {
    if (committed) return;
    committed = true;
    await finish(error);
  };
  try {
    for await (const event of source) {
      if (typeof event === "object" && event !== null && lastEvents.has(event)) await commit(call.failure);
      yield event;
    }
    await commit(call.failure);
  } catch (cause) {
    const error =
      cause instanceof TRPCError ? cause : new TRPCError({ code: "INTERNAL_SERVER_ERROR", cause });
    auditedErrors.add(error);
    await commit(error);
    throw error;
  } finally {
    if (!committed) await commit(call.failure ?? clientClosed());
  }
}

export const auditedProcedure = t.procedure.use(auditCall);
export const publicProcedure = auditedProcedure.meta({ access: "public" });

/** Fails with the exact scopes missing, so a developer can fix a key without guessing. */
function requireScopes(principal: Principal, call: CallState, required: readonly string[]): void {
  const missing = missingScopes(principal.scopes, required);
  if (missing.length > 0) {
    fail("FORBIDDEN", "missing_scope", `This key lacks the scope(s): ${missing.join(", ")}.`, {
      missingScopes: missing,
    });
  }
  call.scopesExercised.push(...required.filter((s) => !call.scopesExercised.includes(s)));
}

/** audit -> authenticate -> procedure scopes: the head every scoped procedure starts with. */
export const authorizedProcedure = auditedProcedure
  .use(async ({ ctx, next }) => {
    const started = performance.now();
    const principal = await authenticate(ctx).finally(() =>
      ctx.metrics.observeStage("authenticate", (performance.now() - started) / 1000),
    );
    ctx.call.principal = principal;
    return next({ ctx: { principal } });
  })
  .use(async ({ ctx, meta, next }) => {
    requireScopes(ctx.principal, ctx.call, meta?.scopes ?? []);
    return next();
  });

export interface ScopedOptions<TSchema extends z.ZodType> {
  scopes: readonly Scope[];
  input: TSchema;
  /** Scopes that depend on the input: `db:<source>`, `tool:<name>`, `prompt-processing`. */
  /**
   * May look the input's target up (e.g. the key being rotated) and may refuse outright; runs
   * before admission, so a refusal here charges nothing.
   */
  inputScopes?: (input: z.output<TSchema>, ctx: Context) => Scope[] | Promise<Scope[]>;
  /**
   * Whether the call is admitted (charged a use, rate-limited, `admitted` record). Default true.
   * A call that is not admitted still takes a rate slot: it is a database read and an audit
   * record, so it must not be free to repeat.
   */
  admit?: boolean;
  /** Model tokens to reserve against the daily budget before the call (input plus output cap). */
  reserveTokens?: (ctx: Context, input: z.output<TSchema>) => Promise<number>;
}

export function scopedProcedure<TSchema extends z.ZodType>(options: ScopedOptions<TSchema>) {
  return authorizedProcedure
    .meta({ access: "scoped", scopes: options.scopes })
    .input(options.input)
    .use(async ({ ctx, input, path, next }) => {
      const parsed = input as z.output<TSchema>;
      requireScopes(ctx.principal, ctx.call, (await options.inputScopes?.(parsed, ctx)) ?? []);
      if (options.admit !== false) {
        const reserve = options.reserveTokens ? await options.reserveTokens(ctx, parsed) : 0;
        await admit(
          ctx,
          ctx.principal,
          {
            phase: "admitted",
            requestId: ctx.request.requestId,
            callId: ctx.call.callId,
            keyId: ctx.principal.keyId,
            owner: ctx.principal.owner,
            endUser: ctx.principal.endUser,
            procedure: path,
            scopes: ctx.call.scopesExercised,
            clientAddress: ctx.request.clientAddress,
          },
          reserve,
        );
      } else {
        await takeRateSlot(ctx, ctx.principal);
      }
      return next();
    });
}
