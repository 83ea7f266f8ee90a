// `scopegate serve`, `scopegate migrate` and `scopegate db roles`: the commands that run or
// prepare the database and server. Their modules load only when the command runs.
import type { Config } from "../../config.ts";
import { acquireLock, DataDirLocked, readLiveLock } from "../../data-lock.ts";
import { defineCommand, JSON_OPTION, printer } from "../command.ts";
import { UsageError } from "../format.ts";
import type { DbIo } from "./db.ts";

const serveCommand = defineCommand({
  name: "serve",
  synopsis: "[--port N]",
  summary: "Run the API server (and the demo page); what `npm start` runs.",
  options: {
    port: { type: "string", arg: "N", help: "the port to listen on (default PORT or 3000; 0 picks one)" },
  },
  async run({ values }, io) {
    const port = values.port === undefined ? io.config.port : Number(values.port);
    if (!Number.isInteger(port) || port < 0 || port > 65_535) throw new UsageError("--port takes 0 to 65535");
    const { serve } = await import("../serve.ts");
    const running = await serve(io.config, io.logger, port);
    // One write, so a reader that sees the address also sees where the demo key is.
    const demo =
      io.config.database.kind === "pglite" ? `\ndemo key written to ${io.config.dataDir}/demo-key` : "";
    io.out(`scopegate listening on http://localhost:${running.port}${demo}`);
    await new Promise<void>((resolve) => {
      const shutdown = () => {
        running.stop().then(resolve, resolve);
      };
      process.once("SIGTERM", shutdown);
      process.once("SIGINT", shutdown);
    });
    // The bin exits once this returns, so a driver handle left behind by a database outage
    // (postgres-js reconnect timers) cannot keep a stopped server alive.
    return 0;
  },
});

/**
 * The embedded database has one opener at a time. A running server applied pending migrations
 * when it started, so migrate refuses (naming it) rather than open the directory a second time.
 */
function lockForMigration(config: Config) {
  if (config.database.kind !== "pglite") return null;
  const holder = readLiveLock(config.dataDir);
  if (holder?.port) {
    throw new DataDirLocked(
      holder,
      `the data directory is in use by scopegate serve (process ${holder.pid}, port ${holder.port}), which applies pending migrations when it starts; stop it to run migrate, or restart it`,
    );
  }
  return acquireLock(config.dataDir);
}

const migrateCommand = defineCommand({
  name: "migrate",
  synopsis: "[--json]",
  summary: "Apply the committed database migrations (the server also applies them at start).",
  options: { ...JSON_OPTION },
  async run({ values }, io) {
    const lock = lockForMigration(io.config);
    try {
      const { openMigratedDatabase } = await import("../../services.ts");
      const database = await openMigratedDatabase(io.config);
      await database.close();
    } finally {
      lock?.release();
    }
    printer(io, values.json)({ migrations: "applied" }, () => "migrations applied");
    return 0;
  },
});

async function runDbRoles(args: string[], io: DbIo): Promise<number> {
  const { dbCommand } = await import("./db.ts");
  return dbCommand("roles", args, io);
}

const dbRolesCommand = defineCommand({
  name: "db roles",
  synopsis: "[--owner-role R] [--app-role R] [--apply]",
  summary: "PostgreSQL: print (or apply) the SQL for least-privilege owner and app roles.",
  options: {
    "owner-role": {
      type: "string",
      arg: "R",
      help: "the role that owns the schema (default scopegate_owner)",
    },
    "app-role": { type: "string", arg: "R", help: "the role the server runs as (default scopegate_app)" },
    apply: { type: "boolean", help: "run the SQL instead of printing it" },
  },
  // Needs DATABASE_URL only (no secrets or model settings), so it runs without the configuration;
  // db.ts parses its own arguments (these options mirror it, for help and early checks).
  runWithoutConfig: runDbRoles,
  run: (_parsed, io, args) => runDbRoles(args, io),
});

export const serverCommands = [serveCommand, migrateCommand, dbRolesCommand];
