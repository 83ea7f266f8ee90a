// Every place scopegate stores or emits text, read back whole, so a test can prove a secret
// reached none of them: every table of the schema, every file in the audit dir (spool and
// checkpoints), the captured log lines and the /metrics exposition.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { sql } from "drizzle-orm";
import type { TestServices } from "../helpers/services.ts";

/** Every row of every table in the current schema, as JSON text, named by its table. */
export async function allTables(services: TestServices): Promise<Map<string, string>> {
  const tables = await services.database.rows<{ name: string }>(
    sql`select table_name as name from information_schema.tables
        where table_schema = current_schema() and table_type = 'BASE TABLE'`,
  );
  const dump = new Map<string, string>();
  for (const { name } of tables) {
    const rows = await services.database.rows<{ t: string }>(
      sql.raw(`select row_to_json(x)::text as t from "${name.replaceAll('"', '""')}" x`),
    );
    dump.set(`table ${name}`, rows.map((r) => r.t).join("\n"));
  }
  return dump;
}

/** Every file in the audit dir (spool lines, checkpoint files), by name. */
export function auditFiles(dir: string | null): Map<string, string> {
  const files = new Map<string, string>();
  if (!dir) return files;
  for (const name of readdirSync(dir)) files.set(`file ${name}`, readFileSync(join(dir, name), "utf8"));
  return files;
}

export async function metricsText(baseUrl: string): Promise<string> {
  const response = await fetch(`${baseUrl}/metrics`);
  if (response.status !== 200) throw new Error(`/metrics answered ${response.status}`);
  return response.text();
}

/** Every sink, after the audit writer has committed what it holds. */
export async function allSinks(services: TestServices, baseUrl: string): Promise<Map<string, string>> {
  await services.audit.drain();
  const sinks = new Map<string, string>([
    ...(await allTables(services)),
    ...auditFiles(services.config.audit.dir),
    ["logs", services.logLines.join("\n")],
    ["metrics", await metricsText(baseUrl)],
  ]);
  return sinks;
}

/** The sinks that hold any of `needles`, with the needle found (shortened). */
export function sinksHolding(sinks: Map<string, string>, needles: readonly string[]): string[] {
  const found: string[] = [];
  for (const [name, text] of sinks) {
    for (const needle of needles) if (text.includes(needle)) found.push(`${name}: ${needle.slice(0, 16)}…`);
  }
  return found;
}

/** What must never be stored of a key: the key, and its secret part on its own. */
export function secretParts(key: string): string[] {
  const secretAndChecksum = key.split("_")[3] ?? "";
  return [key, secretAndChecksum, secretAndChecksum.slice(0, 32)];
}
