// Steps 2, 3 and 5: who is calling, and whether the key holds the scopes the procedure needs,
// then those its input needs (`db:<source>`, `tool:<name>`, … from meta.inputScopes; tRPC v11
// parses input where `.input()` is chained, so that step follows the parser).
import { authenticate } from "../auth/authenticate.ts";
import { missingScopes } from "../auth/scopes.ts";
import type { Authenticated, Recorded } from "../context.ts";
import { fail } from "../errors.ts";
import type { Step } from "./t.ts";

export const authenticateCaller: Step<Recorded, Pick<Authenticated, "principal">> = async ({ ctx, next }) => {
  const started = performance.now();
  const principal = await authenticate(ctx).finally(() =>
    ctx.metrics.observeStage("authenticate", (performance.now() - started) / 1000),
  );
  ctx.call.authenticated(principal);
  return next({ ctx: { principal } });
};

/** Fails with the exact scopes missing, so a developer can fix a key without guessing. */
function requireScopes(ctx: Authenticated, required: readonly string[]): void {
  const missing = missingScopes(ctx.principal.scopes, required);
  if (missing.length > 0) {
    fail("FORBIDDEN", "missing_scope", `This key lacks the scope(s): ${missing.join(", ")}.`, {
      missingScopes: missing,
    });
  }
  ctx.call.exercised(required);
}

export const requireProcedureScopes: Step<Authenticated, object> = async ({ ctx, meta, next }) => {
  requireScopes(ctx, meta?.scopes ?? []);
  return next();
};

export const requireInputScopes: Step<Authenticated, object> = async ({ ctx, meta, input, next }) => {
  requireScopes(ctx, (await meta?.inputScopes?.(input, ctx)) ?? []);
  return next();
};
