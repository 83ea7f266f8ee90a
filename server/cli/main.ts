// The `scopegate` command line. The only module that reads process.env and argv: it parses
// them once and passes configuration down.
import { parseArgs } from "node:util";
import { TRPCClientError } from "@trpc/client";
import { ConfigError, loadConfig } from "../config.ts";
import { DataDirLocked } from "../data-lock.ts";
import { createLogger } from "../logger.ts";
import { openMigratedDatabase } from "../services.ts";
import type { CommandGroup } from "./command.ts";
import { auditCommand } from "./commands/audit.ts";
import { dbCommand } from "./commands/db.ts";
import { docsCommand } from "./commands/docs.ts";
import { guardCommand } from "./commands/guard.ts";
import { keysCommand } from "./commands/keys.ts";
import { connect } from "./connect.ts";
import { escapeControls, UsageError } from "./format.ts";
import { serve } from "./serve.ts";

const COMMAND_GROUPS: Record<string, CommandGroup> = {
  keys: keysCommand,
  docs: docsCommand,
  audit: auditCommand,
  guard: guardCommand,
};

const USAGE = `Usage: scopegate <command>

  serve [--port N]
  migrate
  db roles [--owner-role R] [--app-role R] [--apply]     (PostgreSQL: least-privilege roles)
  keys create --name N --scope S [--scope S ...] [--owner O] [--ttl 5m] [--max-uses N]
              [--rpm N] [--daily-tokens N] [--env live|test] [--json]
  keys list [--json] | keys show ID [--json] | keys revoke ID
  keys rotate ID [--grace 10m] [--json] | keys set-limits ID [--rpm N|none] [--daily-tokens N|none]
  keys derive --from-key KEY --scope S [--scope S ...] [--ttl 5m] [--max-uses N] [--rpm N]
              [--daily-tokens N] [--end-user U] [--json]
  docs add --source S --title T FILE [--json] | docs list [--source S] [--json]
  audit list [--key ID] [--owner O] [--outcome O] [--procedure P] [--phase P] [--since 1h]
             [--until T] [--limit N] [--cursor ID] [--json]
  audit verify | audit stats [--since 1h] | audit export --since 1h --format jsonl | audit tail
  audit prune --older-than 90d | audit public-key
  guard scan [--json]       (JSON lines {"text", "kind"?} on stdin -> {"verdict","score","flags"})
`;

type Out = (text: string) => void;

const EXIT_BACKSTOP_MS = 2_000;

export async function main(
  argv: string[],
  env: Record<string, string | undefined>,
  out: Out,
): Promise<number> {
  const [command, sub, ...rest] = argv;
  if (!command || command === "help" || command === "--help") {
    out(USAGE);
    return command ? 0 : 2;
  }
  // `db roles` only prints or applies SQL: DATABASE_URL is all it needs.
  if (command === "db") return dbCommand(sub, rest, { env, out });
  const config = loadConfig(env);
  const logger = createLogger(config.logLevel);
  switch (command) {
    case "serve": {
      const { values } = parseArgs({ args: argv.slice(1), options: { port: { type: "string" } } });
      const running = await serve(
        config,
        logger,
        values.port === undefined ? config.port : Number(values.port),
      );
      // One write, so a reader that sees the address also sees where the demo key is.
      const demo =
        config.database.kind === "pglite" ? `\ndemo key written to ${config.dataDir}/demo-key` : "";
      out(`scopegate listening on http://localhost:${running.port}${demo}`);
      await new Promise<void>((resolve) => {
        const shutdown = () => {
          running.stop().then(resolve, resolve);
        };
        process.once("SIGTERM", shutdown);
        process.once("SIGINT", shutdown);
      });
      // Everything is flushed and closed; a driver handle left behind by a database outage
      // (postgres-js reconnect timers) must not keep a stopped server alive.
      setTimeout(() => process.exit(0), EXIT_BACKSTOP_MS);
      return 0;
    }
    case "migrate": {
      const database = await openMigratedDatabase(config);
      await database.close();
      out("migrations applied");
      return 0;
    }
    default: {
      const group = COMMAND_GROUPS[command];
      if (!group) throw new UsageError(`unknown command: ${command}`);
      return group(sub, rest, {
        config,
        env,
        logger,
        out,
        connect: (asKey) => connect(env, config, logger, asKey),
        stdin: process.stdin,
        stdout: process.stdout,
      });
    }
  }
}

/** Runs the CLI and maps failures to exit codes: 1 for a refused or failed call, 2 for usage. */
export async function run(argv: string[], env: Record<string, string | undefined>): Promise<number> {
  const out: Out = (text) => process.stdout.write(`${text}\n`);
  try {
    return await main(argv, env, out);
  } catch (error) {
    if (error instanceof UsageError) {
      process.stderr.write(`scopegate: ${error.message}\n\n${USAGE}`);
      return 2;
    }
    if (error instanceof ConfigError) {
      process.stderr.write(`scopegate: configuration error: ${error.message}\n`);
      return 2;
    }
    if (error instanceof DataDirLocked) {
      process.stderr.write(`scopegate: ${error.message}; stop it or wait for it to publish its port\n`);
      return 1;
    }
    if (error instanceof TRPCClientError) {
      const data = (error.data ?? {}) as { reason?: string; missingScopes?: string[]; requestId?: string };
      const detail = data.missingScopes ? ` (missing: ${data.missingScopes.join(", ")})` : "";
      process.stderr.write(
        `scopegate: ${escapeControls(error.message)} [${data.reason ?? "error"}]${detail} request ${data.requestId ?? "-"}\n`,
      );
      return 1;
    }
    process.stderr.write(
      `scopegate: ${error instanceof Error ? escapeControls(error.message) : String(error)}\n`,
    );
    return 1;
  }
}
