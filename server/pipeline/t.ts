// The one tRPC instance (context, meta, error shape). Middleware modules build on it; server/trpc.ts
// composes them into the procedure builders, so nothing here imports a step.
import { initTRPC, type TRPCMiddlewareFunction } from "@trpc/server";
import { z } from "zod";
import type { Scope } from "../auth/scopes.ts";
import type { AuthorizedContext, Context } from "../context.ts";
import { reasonOf, ScopegateError } from "../errors.ts";
import type { AuditProjection } from "./audit-projection.ts";

export interface Meta {
  access: "scoped" | "public";
  scopes?: readonly Scope[];
  /**
   * The result is a stream (a mutation returning an async generator, which tRPC cannot tell
   * from its type): the HTTP layer refuses it up front without the streaming transport.
   */
  streamed?: true;
  // The rest is written only by the scoped builders of server/trpc.ts, which type each function
  // against its own procedure's input and output (tRPC types meta once for every procedure).
  /** Scopes that depend on the input (`db:<source>`, `tool:<name>`, …); read by `requireInputScopes`. */
  inputScopes?: (input: unknown, ctx: AuthorizedContext) => Scope[] | Promise<Scope[]>;
  /** Model tokens admission reserves before the call; read by `admitCall`. */
  reserveTokens?: (ctx: AuthorizedContext, input: unknown) => Promise<number>;
  /** What the final record keeps of the result; read by `recordCall`. */
  audit?: AuditProjection;
}

export const t = initTRPC
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

/** A pipeline step: needs what the steps before it added (`In`), adds `Out` to the context. */
export type Step<In, Out> = TRPCMiddlewareFunction<Context, Meta, In, Out, unknown>;
