// The `scopegate` command line. The only module that reads process.env and argv: it parses
// them once and passes configuration down.
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { TRPCClientError } from "@trpc/client";
import { ConfigError, loadConfig } from "../config.ts";
import { DataDirLocked } from "../data-lock.ts";
import { createLogger } from "../logger.ts";
import { openMigratedDatabase } from "../services.ts";
import { connect } from "./connect.ts";
import { escapeControls, parseDuration, table, UsageError } from "./format.ts";
import { serve } from "./serve.ts";

const USAGE = `Usage: scopegate <command>

  serve [--port N]
  migrate
  keys create --name N --scope S [--scope S ...] [--owner O] [--ttl 5m] [--max-uses N]
              [--rpm N] [--daily-tokens N] [--env live|test] [--json]
  keys list [--json] | keys show ID [--json] | keys revoke ID
  docs add --source S --title T FILE [--json] | docs list [--source S] [--json]
  audit list [--key ID] [--outcome O] [--procedure P] [--since 1h] [--limit N] [--json]
`;

type Out = (text: string) => void;

export async function main(argv: string[], env: Record<string, string | undefined>, out: Out): Promise<number> {
  const [command, sub, ...rest] = argv;
  if (!command || command === "help" || command === "--help") {
    out(USAGE);
    return command ? 0 : 2;
  }
  const config = loadConfig(env);
  const logger = createLogger(config.logLevel);
  switch (command) {
    case "serve": {
      const { values } = parseArgs({ args: argv.slice(1), options: { port: { type: "string" } } });
      const running = await serve(config, logger, values.port === undefined ? config.port : Number(values.port));
      out(`scopegate listening on http://localhost:${running.port}`);
      if (config.database.kind === "pglite") out(`demo key written to ${config.dataDir}/demo-key`);
      await new Promise<void>((resolve) => {
        const shutdown = () => {
          running.stop().then(resolve, resolve);
        };
        process.once("SIGTERM", shutdown);
        process.once("SIGINT", shutdown);
      });
      return 0;
    }
    case "migrate": {
      const database = await openMigratedDatabase(config);
      await database.close();
      out("migrations applied");
      return 0;
    }
    case "keys":
    case "docs":
    case "audit":
      return runApiCommand(command, sub, rest, env, config, logger, out);
    default:
      throw new UsageError(`unknown command: ${command}`);
  }
}

async function runApiCommand(
  group: string,
  sub: string | undefined,
  args: string[],
  env: Record<string, string | undefined>,
  config: ReturnType<typeof loadConfig>,
  logger: ReturnType<typeof createLogger>,
  out: Out,
): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      json: { type: "boolean", default: false },
      name: { type: "string" },
      scope: { type: "string", multiple: true },
      owner: { type: "string" },
      ttl: { type: "string" },
      "max-uses": { type: "string" },
      rpm: { type: "string" },
      "daily-tokens": { type: "string" },
      env: { type: "string" },
      source: { type: "string" },
      title: { type: "string" },
      key: { type: "string" },
      outcome: { type: "string" },
      procedure: { type: "string" },
      since: { type: "string" },
      limit: { type: "string" },
    },
  });
  const connection = await connect(env, config, logger);
  const { api } = connection;
  const print = (value: unknown, human: () => string) => out(values.json ? JSON.stringify(value, null, 2) : human());
  const int = (flag: string, value: string | undefined) => {
    if (value === undefined) return undefined;
    if (!/^\d{1,15}$/.test(value)) throw new UsageError(`--${flag} takes a whole number`);
    return Number(value);
  };
  try {
    const action = `${group} ${sub ?? ""}`;
    switch (action) {
      case "keys create": {
        if (!values.name || !values.scope?.length) throw new UsageError("keys create needs --name and at least one --scope");
        if (values.env !== undefined && values.env !== "live" && values.env !== "test") {
          throw new UsageError("--env is live or test");
        }
        const created = await api.keys.create.mutate({
          name: values.name,
          scopes: values.scope,
          owner: values.owner,
          ttlSeconds: values.ttl ? parseDuration(values.ttl) : undefined,
          maxUses: int("max-uses", values["max-uses"]),
          rpm: int("rpm", values.rpm),
          dailyTokens: int("daily-tokens", values["daily-tokens"]),
          env: values.env as "live" | "test" | undefined,
        });
        print(created, () =>
          [
            `key id:  ${created.keyId}`,
            `scopes:  ${created.scopes.join(" ")}`,
            `expires: ${created.expiresAt ?? "never"}`,
            "",
            created.key,
            "",
            "This key is shown once. Store it now; it cannot be recovered.",
          ].join("\n"),
        );
        return 0;
      }
      case "keys list": {
        const keys = await api.keys.list.query({});
        print(keys, () =>
          table(
            keys.map((k) => ({ ...k, uses: k.usage.uses, status: k.revokedAt ? "revoked" : "active" })),
            ["keyId", "env", "name", "owner", "status", "expiresAt", "uses", "scopes"],
          ),
        );
        return 0;
      }
      case "keys show": {
        const keyId = requirePositional(positionals, "keys show ID");
        const key = await api.keys.show.query({ keyId });
        print(key, () => escapeControls(JSON.stringify(key, null, 2)));
        return 0;
      }
      case "keys revoke": {
        const keyId = requirePositional(positionals, "keys revoke ID");
        const revoked = await api.keys.revoke.mutate({ keyId });
        print(revoked, () => `revoked ${revoked.keyId} at ${revoked.revokedAt}`);
        return 0;
      }
      case "docs add": {
        const file = requirePositional(positionals, "docs add --source S --title T FILE");
        if (!values.source || !values.title) throw new UsageError("docs add needs --source and --title");
        const body = readFileSync(file, "utf8");
        const doc = await api.documents.add.mutate({ source: values.source, title: values.title, body });
        print(doc, () => `added ${doc.id} to ${escapeControls(doc.source)}: ${escapeControls(doc.title)}`);
        return 0;
      }
      case "docs list": {
        const docs = await api.documents.list.query({ source: values.source });
        print(docs, () => table(docs, ["id", "source", "title", "createdAt"]));
        return 0;
      }
      case "audit list": {
        const since = values.since ? new Date(Date.now() - parseDuration(values.since) * 1000).toISOString() : undefined;
        const page = await api.audit.list.query({
          keyId: values.key,
          outcome: values.outcome as "ok" | "denied" | "rejected" | "error" | undefined,
          procedure: values.procedure,
          since,
          limit: int("limit", values.limit) ?? 50,
        });
        print(page.items, () =>
          table(page.items, ["id", "ts", "phase", "procedure", "keyId", "outcome", "reason", "clientAddress", "requestId", "callId"]),
        );
        return 0;
      }
      default:
        throw new UsageError(`unknown command: ${action.trim()}`);
    }
  } finally {
    await connection.close();
  }
}

function requirePositional(positionals: string[], usage: string): string {
  const value = positionals[0];
  if (!value) throw new UsageError(`usage: scopegate ${usage}`);
  return value;
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
    process.stderr.write(`scopegate: ${error instanceof Error ? escapeControls(error.message) : String(error)}\n`);
    return 1;
  }
}
