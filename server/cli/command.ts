// What every CLI command group receives: its arguments, output, and a lazily opened connection
// (remote server, local server, or the database in-process; see connect.ts).
import type { Config } from "../config.ts";
import type { Logger } from "../logger.ts";
import type { CliConnection } from "./connect.ts";
import { UsageError } from "./format.ts";

export interface CliIo {
  config: Config;
  env: Record<string, string | undefined>;
  logger: Logger;
  out(text: string): void;
  /** Opens the connection the design's "where the CLI acts" rules choose (as `asKey` if given). */
  connect(asKey?: string): Promise<CliConnection>;
  stdin: NodeJS.ReadableStream;
  stdout: NodeJS.WritableStream;
}

export type CommandGroup = (sub: string | undefined, args: string[], io: CliIo) => Promise<number>;

export function requirePositional(positionals: string[], usage: string): string {
  const value = positionals[0];
  if (!value) throw new UsageError(`usage: scopegate ${usage}`);
  return value;
}

export function wholeNumber(flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d{1,15}$/.test(value)) throw new UsageError(`--${flag} takes a whole number`);
  return Number(value);
}

/** Prints JSON with --json, else the human form. */
export function printer(io: CliIo, json: boolean) {
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
