// What a CLI command is: its name, synopsis, options and positionals (from which its help and
// usage errors are made) and a run function; plus what every command receives (CliIo).
import type { Config } from "../config.ts";
import type { Logger } from "../logger.ts";
import type { CliConnection } from "./connect.ts";
import { UsageError } from "./format.ts";

export interface CliIo {
  config: Config;
  env: Record<string, string | undefined>;
  logger: Logger;
  out(text: string): void;
  /** A line on stderr (warnings; never a secret). */
  err(text: string): void;
  /** Opens the connection the design's "where the CLI acts" rules choose (as `asKey` if given). */
  connect(asKey?: string): Promise<CliConnection>;
  stdin: NodeJS.ReadableStream & { isTTY?: boolean };
  stdout: NodeJS.WritableStream;
}

export interface OptionSpec {
  type: "string" | "boolean";
  multiple?: boolean;
  /** The value's placeholder in help (`N`, `5m`). */
  arg?: string;
  help: string;
}

export type OptionSpecs = Record<string, OptionSpec>;

type OptionValue<S extends OptionSpec> = S["type"] extends "boolean"
  ? boolean
  : S["multiple"] extends true
    ? string[]
    : string;

export type OptionValues<O extends OptionSpecs> = { [K in keyof O]?: OptionValue<O[K]> };

export interface ParsedCommand<O extends OptionSpecs> {
  values: OptionValues<O>;
  positionals: string[];
}

export interface CommandSpec<O extends OptionSpecs = OptionSpecs> {
  /** The words that select it: `keys create`. */
  name: string;
  /** What follows the name in the usage line. */
  synopsis: string;
  summary: string;
  /** More words for the command's own help. */
  details?: string;
  options: O;
  /** Placeholders of the required positional arguments, in order (`ID`, `FILE`). */
  positionals?: string[];
  /** `args` are the arguments after the command's name, for a handler that parses its own (`db roles`). */
  run(parsed: ParsedCommand<O>, io: CliIo, args: string[]): Promise<number>;
  /**
   * For a command that must run without the server's configuration (`db roles` needs only
   * DATABASE_URL): called instead of `run`, before anything else is loaded.
   */
  runWithoutConfig?(
    args: string[],
    io: { env: Record<string, string | undefined>; out(text: string): void },
  ): Promise<number>;
}

/** Keeps the option names typed inside `run` while the registry holds a plain list. */
export function defineCommand<const O extends OptionSpecs>(spec: CommandSpec<O>): CommandSpec {
  return spec as unknown as CommandSpec;
}

export const JSON_OPTION = { json: { type: "boolean", help: "print one JSON document" } } as const;

export function wholeNumber(flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d{1,15}$/.test(value)) throw new UsageError(`--${flag} takes a whole number`);
  return Number(value);
}

/** Prints JSON with --json, else the human form. */
export function printer(io: CliIo, json: boolean | undefined) {
  return (value: unknown, human: () => string) => io.out(json ? JSON.stringify(value, null, 2) : human());
}

/** Runs `fn` with an open connection and always closes it. */
export async function withConnection<T>(
  io: CliIo,
  fn: (connection: CliConnection) => Promise<T>,
  asKey?: string,
): Promise<T> {
  const connection = await io.connect(asKey);
  try {
    return await fn(connection);
  } finally {
    await connection.close();
  }
}
