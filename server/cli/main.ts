// The `scopegate` command line. The only module that reads process.env and argv: it picks the
// command, answers help and version without loading the server, parses configuration once and
// passes it down, and maps failures to exit codes (1 refused or failed, 2 usage or configuration).
import type { CommandSpec } from "./command.ts";
import { escapeControls, UsageError } from "./format.ts";
import { COMMANDS } from "./registry.ts";
import { asUsageError, commandUsage, parseCommandArgs, resolveCommand } from "./usage.ts";
import { packageVersion } from "./version.ts";

interface Streams {
  stdin: NodeJS.ReadableStream & { isTTY?: boolean };
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
}

/** Runs the CLI; returns the exit code. */
export async function run(
  argv: string[],
  env: Record<string, string | undefined>,
  streams: Streams = process,
): Promise<number> {
  const resolved = resolveCommand(argv, [...COMMANDS], packageVersion());
  if (resolved.kind === "help") {
    if (resolved.error) streams.stderr.write(`scopegate: ${resolved.error}\n\n${resolved.text}`);
    else streams.stdout.write(resolved.text);
    return resolved.exitCode;
  }
  const { spec, args } = resolved;
  const json = wantsJson(args);
  try {
    return await runCommand(spec, args, env, streams);
  } catch (error) {
    return report(await describeFailure(error, spec), json, streams.stderr);
  }
}

async function runCommand(
  spec: CommandSpec,
  args: string[],
  env: Record<string, string | undefined>,
  streams: Streams,
): Promise<number> {
  // Arguments are checked before anything is loaded or opened, also for commands that re-read them.
  const parsed = parseCommandArgs(spec, args);
  if (spec.runWithoutConfig) {
    return spec.runWithoutConfig(args, { env, out: (text) => streams.stdout.write(`${text}\n`) });
  }
  const [{ loadConfig }, { createLogger }, { connect }] = await Promise.all([
    import("../config.ts"),
    import("../logger.ts"),
    import("./connect.ts"),
  ]);
  const config = loadConfig(env);
  const logger = createLogger(config.logLevel);
  return spec.run(
    parsed,
    {
      config,
      env,
      logger,
      out: (text) => streams.stdout.write(`${text}\n`),
      err: (text) => streams.stderr.write(`${text}\n`),
      connect: (asKey) => connect(env, config, logger, asKey),
      stdin: streams.stdin,
      stdout: streams.stdout,
    },
    args,
  );
}

function wantsJson(args: string[]): boolean {
  const end = args.indexOf("--");
  return (end === -1 ? args : args.slice(0, end)).includes("--json");
}

interface Failure {
  exitCode: 1 | 2;
  /** What --json prints under `error`: the API's error fields, or a CLI reason. */
  error: { reason: string; message: string } & Record<string, unknown>;
  /** The human form. */
  text: string;
}

async function describeFailure(error: unknown, spec: CommandSpec): Promise<Failure> {
  const usage = error instanceof UsageError ? error : asUsageError(error);
  if (usage) {
    return {
      exitCode: 2,
      error: { reason: "usage", message: usage.message, usage: commandUsage(spec) },
      text: `scopegate: ${usage.message}\n\n${commandUsage(spec)}`,
    };
  }
  const [{ ConfigError }, { DataDirLocked }, { TRPCClientError }, { describeError }] = await Promise.all([
    import("../config.ts"),
    import("../data-lock.ts"),
    import("@trpc/client"),
    import("../../client/errors.ts"),
  ]);
  if (error instanceof ConfigError) {
    const message = `configuration error: ${error.message}`;
    return { exitCode: 2, error: { reason: "config_error", message }, text: `scopegate: ${message}` };
  }
  if (error instanceof DataDirLocked) {
    // No port yet: a server still starting, or another command that opened the database itself.
    const hint = error.holder.port
      ? ""
      : " (a server starting, or another scopegate command); try again when it is done";
    const message = `${error.message}${hint}`;
    return { exitCode: 1, error: { reason: "data_dir_locked", message }, text: `scopegate: ${message}` };
  }
  if (error instanceof TRPCClientError) {
    const described = describeError(error);
    return { exitCode: 1, error: { ...described }, text: humanApiError(described) };
  }
  const message = error instanceof Error ? error.message : String(error);
  return {
    exitCode: 1,
    error: { reason: "cli_error", message },
    text: `scopegate: ${escapeControls(message)}`,
  };
}

/** The server's own words: field errors (`scopes: unknown scope …; valid: …`) rather than "Invalid input.". */
function humanApiError(e: {
  message: string;
  reason: string;
  requestId: string | null;
  missingScopes?: string[];
  fieldErrors?: Record<string, string[]>;
}): string {
  const fields = Object.entries(e.fieldErrors ?? {}).flatMap(([field, messages]) =>
    messages.map((m) => `${field}: ${m}`),
  );
  const message = fields.length > 0 ? fields.join("; ") : e.message;
  const missing = e.missingScopes ? ` (missing: ${e.missingScopes.join(", ")})` : "";
  return `scopegate: ${escapeControls(message)} [${e.reason}]${missing} request ${e.requestId ?? "-"}`;
}

function report(failure: Failure, json: boolean, stderr: NodeJS.WritableStream): number {
  stderr.write(json ? `${JSON.stringify({ error: failure.error })}\n` : `${failure.text}\n`);
  return failure.exitCode;
}
