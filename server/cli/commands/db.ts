// `scopegate db roles [--owner-role R] [--app-role R] [--apply]`: prints (or, as a role that may
// create roles, applies) the least-privilege roles SQL for the database in DATABASE_URL. Needs
// DATABASE_URL only: no secrets or model settings, since it never serves or reads keys.
import { parseArgs } from "node:util";
import postgres from "postgres";
import { describeTarget, explainDatabaseError } from "../../../db/connection-errors.ts";
import { rolesSql } from "../../../db/roles.ts";
import { loadDatabaseUrl } from "../../config.ts";
import { UsageError } from "../format.ts";

export interface DbIo {
  env: Record<string, string | undefined>;
  out(text: string): void;
}

export async function dbCommand(sub: string | undefined, args: string[], io: DbIo): Promise<number> {
  if (sub !== "roles") throw new UsageError(`unknown command: db ${sub ?? ""}`);
  const { values } = parseArgs({
    args,
    options: {
      "owner-role": { type: "string", default: "scopegate_owner" },
      "app-role": { type: "string", default: "scopegate_app" },
      apply: { type: "boolean", default: false },
    },
  });
  const url = loadDatabaseUrl(io.env);
  // The database the URL connects to, with the driver's defaults (no path: the user's name).
  const { database } = describeTarget(url);
  const text = rolesSql({ database, owner: values["owner-role"], app: values["app-role"] });
  if (!values.apply) {
    io.out(text);
    return 0;
  }
  const client = postgres(url, { max: 1, connect_timeout: 5, onnotice: () => {} });
  try {
    await client.unsafe(text);
  } catch (error) {
    throw explainDatabaseError(error, url) ?? error;
  } finally {
    await client.end({ timeout: 5 });
  }
  io.out(`roles ${values["owner-role"]} and ${values["app-role"]} applied to ${database}`);
  return 0;
}
