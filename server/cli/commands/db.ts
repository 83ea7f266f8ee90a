// `scopegate db roles [--owner-role R] [--app-role R] [--apply]`: prints (or, as a role that may
// create roles, applies) the least-privilege roles SQL for the database in DATABASE_URL.
import { parseArgs } from "node:util";
import postgres from "postgres";
import { rolesSql } from "../../../db/roles.ts";
import type { CommandGroup } from "../command.ts";
import { UsageError } from "../format.ts";

export const dbCommand: CommandGroup = async (sub, args, io) => {
  if (sub !== "roles") throw new UsageError(`unknown command: db ${sub ?? ""}`);
  const { values } = parseArgs({
    args,
    options: {
      "owner-role": { type: "string", default: "scopegate_owner" },
      "app-role": { type: "string", default: "scopegate_app" },
      apply: { type: "boolean", default: false },
    },
  });
  if (io.config.database.kind !== "postgres") {
    throw new UsageError("db roles is for PostgreSQL: set DATABASE_URL (the embedded database has no roles)");
  }
  const url = io.config.database.url;
  const database = decodeURIComponent(new URL(url).pathname.slice(1)) || "postgres";
  const text = rolesSql({ database, owner: values["owner-role"], app: values["app-role"] });
  if (!values.apply) {
    io.out(text);
    return 0;
  }
  const client = postgres(url, { max: 1, onnotice: () => {} });
  try {
    await client.unsafe(text);
  } finally {
    await client.end();
  }
  io.out(`roles ${values["owner-role"]} and ${values["app-role"]} applied to ${database}`);
  return 0;
};
