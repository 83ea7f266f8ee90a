// The scope grammar, the closed catalog and the matching rules. Matching is exact and
// case-sensitive; `db:*` and `tool:*` are the only wildcards. Deny by default.

export const FIXED_SCOPES = [
  "endpoint:summarize-doc",
  "endpoint:chat",
  "prompt-processing",
  "keys:derive",
  "admin:keys",
  "admin:audit",
  "admin:documents",
] as const;

export type FixedScope = (typeof FIXED_SCOPES)[number];
export type Scope = FixedScope | `db:${string}` | `tool:${string}`;

export const SCOPE_PATTERN =
  /^(?:(?:endpoint|db|tool|keys|admin):[a-z0-9][a-z0-9-]{0,63}|prompt-processing)$/;
const WILDCARDS = new Set(["db:*", "tool:*"]);
/** Data-source and tool names: the part after `db:` / `tool:`. */
export const RESOURCE_NAME_PATTERN = /^[a-z0-9][a-z0-9-]{0,63}$/;

export function isGrammatical(scope: string): boolean {
  return SCOPE_PATTERN.test(scope) || WILDCARDS.has(scope);
}

/** Known to the catalog: a fixed scope, or a well-formed `db:`/`tool:` scope or wildcard. */
export function isKnownScope(scope: string): scope is Scope {
  if ((FIXED_SCOPES as readonly string[]).includes(scope)) return true;
  return isGrammatical(scope) && (scope.startsWith("db:") || scope.startsWith("tool:"));
}

export function describeValidScopes(): string {
  return [...FIXED_SCOPES, "db:<source>", "db:*", "tool:<name>", "tool:*"].join(", ");
}

/** Whether `held` covers `required`: equal, or a wildcard of the same family. */
function covers(held: string, required: string): boolean {
  if (held === required) return true;
  if (held === "db:*") return required.startsWith("db:");
  if (held === "tool:*") return required.startsWith("tool:");
  return false;
}

export function hasScope(held: readonly string[], required: string): boolean {
  return held.some((h) => covers(h, required));
}

/** The required scopes not covered by `held`, in the order they were asked for. */
export function missingScopes(held: readonly string[], required: readonly string[]): string[] {
  return [...new Set(required)].filter((r) => !hasScope(held, r));
}

export const dataSourceScope = (source: string): Scope => `db:${source}`;
export const toolScope = (name: string): Scope => `tool:${name}`;
