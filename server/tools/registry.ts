// The tool registry: each tool has a name, a strict zod schema for its arguments, its scope
// `tool:<name>` and an executor. Which tools a call may use is decided here, outside the model:
// offered = asked for by the caller AND held by the key AND allowed for the key's environment.
import { z } from "zod";
import type { Principal } from "../auth/principal.ts";
import { hasScope, type Scope, toolScope } from "../auth/scopes.ts";
import type { Config } from "../config.ts";
import type { ToolSpec } from "../model/provider.ts";
import { paymentApiTool } from "./payment-api.ts";
import { searchDocumentsTool } from "./search-documents.ts";
import type { Tool } from "./tool.ts";

export const scopeOf = (tool: Pick<Tool, "name">): Scope => toolScope(tool.name);

// Tools are stored with their argument type erased; `execute` only ever receives what `args`
// parsed, so the pairing holds.
function erase<TArgs>(tool: Tool<TArgs>): Tool {
  return tool as unknown as Tool;
}

export type ToolRegistry = ReadonlyMap<string, Tool>;

export function createToolRegistry(config: Pick<Config, "paymentApiUrl">): ToolRegistry {
  const tools = [erase(searchDocumentsTool()), erase(paymentApiTool(config.paymentApiUrl))];
  return new Map(tools.map((t) => [t.name, t]));
}

/** The tools this call offers the model: requested, held, and allowed for the key's env. */
export function offeredTools(
  registry: ToolRegistry,
  principal: Principal,
  requested: readonly string[],
): Tool[] {
  return [...new Set(requested)].flatMap((name) => {
    const tool = registry.get(name);
    if (!tool || !hasScope(principal.scopes, scopeOf(tool))) return [];
    // Test keys may use the offline model only, and nothing that reaches another system.
    if (tool.external && principal.env === "test") return [];
    return [tool];
  });
}

export function toolSpec(tool: Tool): ToolSpec {
  // The `$schema` marker is noise to model APIs; the rest is plain JSON Schema.
  const { $schema: _, ...parameters } = z.toJSONSchema(tool.args);
  return { name: tool.name, description: tool.description, parameters };
}
