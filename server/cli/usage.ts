// Turns argv into a command and its parsed arguments, and writes help: the whole list, a
// group's commands, or one command's usage with its options. Every usage error names the
// command it belongs to, so the runner prints that command's own usage.
import { parseArgs } from "node:util";
import type { CommandSpec, ParsedCommand } from "./command.ts";
import { UsageError } from "./format.ts";

export type Resolved =
  | { kind: "command"; spec: CommandSpec; args: string[] }
  | { kind: "help"; text: string; exitCode: 0 | 2; error?: string };

const HELP_FLAGS = new Set(["--help", "-h"]);
const VERSION_FLAGS = new Set(["--version", "-V"]);

/** True when argv asks for help before any `--` (so `migrate --help` never migrates). */
function asksForHelp(args: string[]): boolean {
  for (const arg of args) {
    if (arg === "--") return false;
    if (HELP_FLAGS.has(arg)) return true;
  }
  return false;
}

export function commandUsage(spec: CommandSpec): string {
  const lines = [`Usage: scopegate ${spec.name} ${spec.synopsis}`.trimEnd(), "", spec.summary];
  if (spec.details) lines.push(spec.details);
  const options = Object.entries(spec.options).map(([name, option]) => {
    const flag = `--${name}${option.type === "string" ? ` ${option.arg ?? "VALUE"}` : ""}`;
    return [flag, `${option.help}${option.multiple ? " (repeatable)" : ""}`] as const;
  });
  options.push(["-h, --help", "show this help"]);
  const width = Math.max(...options.map(([flag]) => flag.length));
  lines.push("", "Options:", ...options.map(([flag, help]) => `  ${flag.padEnd(width)}  ${help}`));
  return `${lines.join("\n")}\n`;
}

function listUsage(specs: CommandSpec[], heading: string): string {
  const width = Math.max(...specs.map((s) => s.name.length));
  const rows = specs.map((s) => `  ${s.name.padEnd(width)}  ${s.summary}`);
  return `${heading}\n\n${rows.join("\n")}\n\nRun \`scopegate <command> --help\` for a command's options.\n`;
}

export function fullUsage(specs: CommandSpec[]): string {
  return listUsage(specs, "Usage: scopegate <command> [options]\n       scopegate --version");
}

function groupUsage(specs: CommandSpec[], group: string): string {
  return listUsage(
    specs.filter((s) => s.name.startsWith(`${group} `)),
    `Usage: scopegate ${group} <command> [options]`,
  );
}

/**
 * Picks the command argv names. Help and version requests, a bare group and unknown commands
 * come back as text to print (exit 0 when asked for, 2 when argv was wrong).
 */
export function resolveCommand(argv: string[], specs: CommandSpec[], version: string): Resolved {
  const [first, second] = argv;
  if (first === undefined) return { kind: "help", text: fullUsage(specs), exitCode: 2 };
  if (VERSION_FLAGS.has(first) || first === "version") {
    return { kind: "help", text: `scopegate ${version}\n`, exitCode: 0 };
  }
  if (first === "help" || HELP_FLAGS.has(first)) {
    const rest = argv.slice(1).filter((a) => !HELP_FLAGS.has(a));
    if (rest.length === 0) return { kind: "help", text: fullUsage(specs), exitCode: 0 };
    const target = resolveCommand([...rest, "--help"], specs, version);
    return target.kind === "help" ? target : { kind: "help", text: commandUsage(target.spec), exitCode: 0 };
  }
  const single = specs.find((s) => s.name === first);
  const pair = specs.find((s) => s.name === `${first} ${second}`);
  const spec = single ?? pair;
  if (spec) {
    const args = argv.slice(spec.name.split(" ").length);
    if (asksForHelp(args)) return { kind: "help", text: commandUsage(spec), exitCode: 0 };
    return { kind: "command", spec, args };
  }
  const isGroup = specs.some((s) => s.name.startsWith(`${first} `));
  if (!isGroup) {
    return { kind: "help", text: fullUsage(specs), exitCode: 2, error: `unknown command: ${first}` };
  }
  const wanted = second === undefined || second.startsWith("-") ? undefined : second;
  if (wanted === undefined && asksForHelp(argv.slice(1))) {
    return { kind: "help", text: groupUsage(specs, first), exitCode: 0 };
  }
  return {
    kind: "help",
    text: groupUsage(specs, first),
    exitCode: 2,
    error: wanted === undefined ? `${first} needs a command` : `unknown command: ${first} ${wanted}`,
  };
}

/** Parses a command's arguments against its options and positionals; throws UsageError. */
export function parseCommandArgs(spec: CommandSpec, args: string[]): ParsedCommand<CommandSpec["options"]> {
  const options = Object.fromEntries(
    Object.entries(spec.options).map(([name, o]) => [
      name,
      o.multiple ? { type: o.type, multiple: true } : { type: o.type },
    ]),
  );
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({ args, options, allowPositionals: true, strict: true });
  } catch (error) {
    // node:util reports unknown options, missing values and such as TypeErrors with ERR_PARSE_ARGS_*.
    throw asUsageError(error) ?? error;
  }
  const expected = spec.positionals ?? [];
  if (parsed.positionals.length < expected.length) {
    throw new UsageError(`${spec.name} needs ${expected.slice(parsed.positionals.length).join(" ")}`);
  }
  if (parsed.positionals.length > expected.length) {
    const extra = parsed.positionals.slice(expected.length).join(" ");
    throw new UsageError(`${spec.name}: unexpected argument ${extra}`);
  }
  // parseArgs built each value from the spec's own option types, which OptionValues mirrors.
  return {
    values: parsed.values as ParsedCommand<CommandSpec["options"]>["values"],
    positionals: parsed.positionals,
  };
}

/** node:util's parseArgs errors as usage errors (also for commands that parse their own arguments). */
export function asUsageError(error: unknown): UsageError | null {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === "string" && code.startsWith("ERR_PARSE_ARGS_")) {
    return new UsageError((error as Error).message.replace(/\. To specify a positional.*$/s, ""));
  }
  return null;
}
