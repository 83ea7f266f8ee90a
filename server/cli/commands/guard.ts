// `scopegate guard scan`: JSON lines `{"text", "kind"?}` on stdin, one verdict per line on
// stdout, for offline evaluation of the prompt guard (thresholds from the environment).

import { runGuardScan } from "../../guard/scan.ts";
import type { CommandGroup } from "../command.ts";
import { UsageError } from "../format.ts";

export const guardCommand: CommandGroup = async (sub, args, io) => {
  // Output is JSON lines either way; --json is accepted for symmetry with the other commands.
  if (sub !== "scan" || args.some((a) => a !== "--json"))
    throw new UsageError("usage: scopegate guard scan [--json]");
  return runGuardScan(io.stdin, io.stdout, io.config.guard);
};
