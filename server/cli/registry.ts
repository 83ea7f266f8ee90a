// Every `scopegate` command, in the order help lists them. Command modules are light: each loads
// the server, database or guard modules it needs only when it runs, so help and version are fast.
import type { CommandSpec } from "./command.ts";
import { auditCommands } from "./commands/audit.ts";
import { docsCommands } from "./commands/docs.ts";
import { guardCommands } from "./commands/guard.ts";
import { keysCommands } from "./commands/keys.ts";
import { serverCommands } from "./commands/server.ts";

export const COMMANDS: readonly CommandSpec[] = [
  ...serverCommands,
  ...keysCommands,
  ...docsCommands,
  ...auditCommands,
  ...guardCommands,
];
