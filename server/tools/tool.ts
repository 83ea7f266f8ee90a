// What a tool is: its name, argument schema, reach and executor. Its own module, so the tools and
// the registry that collects them both import it instead of each other.
import type { z } from "zod";
import type { Database } from "../../db/index.ts";
import type { Principal } from "../auth/principal.ts";
import type { Logger } from "../logger.ts";
import type { ToolName } from "./names.ts";

/** What a tool may use while it runs: never more than the calling key holds. */
export interface ToolContext {
  principal: Principal;
  db: Database;
  logger: Logger;
  signal: AbortSignal;
}

export interface Tool<TArgs = unknown> {
  name: ToolName;
  description: string;
  /** Strict: unknown fields are rejected. */
  args: z.ZodType<TArgs>;
  /** Reaches outside this process; `test` keys never get such tools. */
  external: boolean;
  /** The result is untrusted text; the caller spotlights it before the model sees it. */
  execute(args: TArgs, context: ToolContext): Promise<string>;
}
