// What a key may hand out: only known scopes it holds itself, and never, through derivation,
// administrator scopes or the right to derive again.
import type { Principal } from "../auth/principal.ts";
import { describeValidScopes, isKnownScope, missingScopes } from "../auth/scopes.ts";
import { fail } from "../errors.ts";

/** Unknown or malformed scopes are bad input; well-formed scopes the granter lacks are forbidden. */
export function checkGrantable(granter: Principal, requested: readonly string[]): void {
  const unknown = requested.filter((s) => !isKnownScope(s));
  if (unknown.length > 0) {
    fail(
      "BAD_REQUEST",
      "invalid_input",
      `Unknown scope(s): ${unknown.join(", ")}. Valid: ${describeValidScopes()}.`,
      {
        fieldErrors: { scopes: [`unknown: ${unknown.join(", ")}`, `valid: ${describeValidScopes()}`] },
      },
    );
  }
  const notHeld = missingScopes(granter.scopes, requested);
  if (notHeld.length > 0) {
    fail("FORBIDDEN", "missing_scope", `A key cannot grant scopes it does not hold: ${notHeld.join(", ")}.`, {
      missingScopes: notHeld,
    });
  }
}

/** Scopes a derived key may never carry: deriving must not mint administrators or more derivers. */
const NOT_DERIVABLE = (scope: string) => scope.startsWith("admin:") || scope === "keys:derive";

export function checkDerivable(scopes: readonly string[]): void {
  const forbidden = scopes.filter(NOT_DERIVABLE);
  if (forbidden.length > 0) {
    fail("FORBIDDEN", "missing_scope", `Derived keys cannot hold: ${forbidden.join(", ")}.`, {
      missingScopes: forbidden,
    });
  }
}
