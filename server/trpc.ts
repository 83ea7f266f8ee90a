// The call path, top to bottom: every step is a named middleware in its own module, and each
// adds to the context only what it establishes (context.ts: Recorded, Authenticated, Admitted).
//
//   1. recordCall              pipeline/record-call.ts  one `final` record per call, with its settlement
//   2. authenticateCaller      pipeline/authorize.ts    + principal
//   3. requireProcedureScopes  pipeline/authorize.ts    meta.scopes
//   4. input parser            `.input(schema)`         (tRPC v11 parses where it is chained)
//   5. requireInputScopes      pipeline/authorize.ts    meta.inputScopes(input)
//   6. admitCall               pipeline/admit.ts        + budget (or takeRateSlotStep: not admitted)
//   7. the handler             routers/*                its typed result, projected for the record
//
// `scopedProcedure` builds every AI and admin procedure this way and makes each name its audit
// projection; `publicProcedure` is explicitly public (recorded, no key). A test walks the router
// and fails on any procedure that is neither, or whose steps differ.
import type { TRPCMutationProcedure, TRPCQueryProcedure } from "@trpc/server";
import type { z } from "zod";
import type { Scope } from "./auth/scopes.ts";
import type { AdmittedContext, AuthorizedContext } from "./context.ts";
import { admitCall, takeRateSlotStep } from "./pipeline/admit.ts";
import type { AuditedOutput, AuditProjection, StreamEvent } from "./pipeline/audit-projection.ts";
import { authenticateCaller, requireInputScopes, requireProcedureScopes } from "./pipeline/authorize.ts";
import { recordCall } from "./pipeline/record-call.ts";
import { type Meta, t } from "./pipeline/t.ts";

export { wasAudited } from "./pipeline/record-call.ts";
export type { Meta } from "./pipeline/t.ts";
export const router = t.router;
export const createCallerFactory = t.createCallerFactory;

export const auditedProcedure = t.procedure.use(recordCall);
export const publicProcedure = auditedProcedure.meta({ access: "public" });
export const authorizedProcedure = auditedProcedure.use(authenticateCaller).use(requireProcedureScopes);

export interface ScopedOptions<TSchema extends z.ZodType> {
  scopes: readonly Scope[];
  input: TSchema;
  /**
   * Scopes that depend on the input: `db:<source>`, `tool:<name>`, `prompt-processing`. May look
   * the input's target up (e.g. the key being rotated) and may refuse outright; runs before
   * admission, so a refusal here charges nothing.
   */
  inputScopes?: (input: z.output<TSchema>, ctx: AuthorizedContext) => Scope[] | Promise<Scope[]>;
  /**
   * Whether the call is admitted (charged a use, rate-limited, `admitted` record). Default true.
   * A call that is not admitted only takes a rate slot, and its handler gets no token budget.
   */
  admit?: boolean;
  /** Model tokens to reserve against the daily budget before the call (input plus output cap). */
  reserveTokens?: (ctx: AuthorizedContext, input: z.output<TSchema>) => Promise<number>;
}

interface HandlerOptions<TCtx, TInput> {
  ctx: TCtx;
  input: TInput;
  path: string;
  signal: AbortSignal | undefined;
}
type Handler<TCtx, TInput, TOut> = (options: HandlerOptions<TCtx, TInput>) => Promise<TOut> | TOut;

/** A scoped procedure waiting for its handler and what its final record keeps of the result. */
export interface ScopedBuilder<TCtx, TSchema extends z.ZodType> {
  query<TOut>(
    handler: Handler<TCtx, z.output<TSchema>, TOut>,
    audit: (result: TOut) => AuditedOutput,
  ): TRPCQueryProcedure<{ input: z.input<TSchema>; output: TOut; meta: Meta }>;
  mutation<TOut>(
    handler: Handler<TCtx, z.output<TSchema>, TOut>,
    audit: (result: TOut) => AuditedOutput,
  ): TRPCMutationProcedure<{ input: z.input<TSchema>; output: TOut; meta: Meta }>;
  /** A mutation whose result is a stream (over httpBatchStreamLink, a POST); its `done` event is audited. */
  stream<TEvent extends StreamEvent>(
    handler: Handler<TCtx, z.output<TSchema>, AsyncGenerator<TEvent>>,
    audit: (done: Extract<TEvent, { type: "done" }>, streamed: string) => AuditedOutput,
  ): TRPCMutationProcedure<{ input: z.input<TSchema>; output: AsyncGenerator<TEvent>; meta: Meta }>;
}

/** For results with nothing the record keeps beyond the call itself (lists, reads, lifecycle changes). */
export const nothingAudited = (): AuditedOutput => ({ output: null });

export function scopedProcedure<TSchema extends z.ZodType>(
  options: ScopedOptions<TSchema> & { admit: false },
): ScopedBuilder<AuthorizedContext, TSchema>;
export function scopedProcedure<TSchema extends z.ZodType>(
  options: ScopedOptions<TSchema> & { admit?: true },
): ScopedBuilder<AdmittedContext, TSchema>;
// Written once for any schema: the signatures above tie each procedure's functions to its own
// input and result, which tRPC's single Meta type cannot express.
export function scopedProcedure(
  options: ScopedOptions<z.ZodType>,
): ScopedBuilder<AdmittedContext, z.ZodType> | ScopedBuilder<AuthorizedContext, z.ZodType> {
  const parsed = (audit: AuditProjection, streamed?: true) =>
    authorizedProcedure
      .meta({
        access: "scoped",
        scopes: options.scopes,
        ...(options.inputScopes ? { inputScopes: options.inputScopes } : {}),
        ...(options.reserveTokens ? { reserveTokens: options.reserveTokens } : {}),
        audit,
        ...(streamed ? { streamed } : {}),
      })
      .input(options.input)
      .use(requireInputScopes);
  if (options.admit === false) {
    const rateOnly = (audit: AuditProjection, streamed?: true) =>
      parsed(audit, streamed).use(takeRateSlotStep);
    return {
      query: (handler, audit) => rateOnly({ kind: "result", project: audit }).query(handler),
      mutation: (handler, audit) => rateOnly({ kind: "result", project: audit }).mutation(handler),
      stream: (handler, audit) => rateOnly({ kind: "stream", project: audit }, true).mutation(handler),
    } satisfies ScopedBuilder<AuthorizedContext, z.ZodType>;
  }
  const admitted = (audit: AuditProjection, streamed?: true) => parsed(audit, streamed).use(admitCall);
  return {
    query: (handler, audit) => admitted({ kind: "result", project: audit }).query(handler),
    mutation: (handler, audit) => admitted({ kind: "result", project: audit }).mutation(handler),
    stream: (handler, audit) => admitted({ kind: "stream", project: audit }, true).mutation(handler),
  } satisfies ScopedBuilder<AdmittedContext, z.ZodType>;
}
