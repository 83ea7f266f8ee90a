// The README's production sequence, run as an operator would paste it: docs/production.sh under
// `sh`, against the local PostgreSQL, in a database and roles of its own that it drops after.
// `npx scopegate` resolves to this checkout's bin, as it does once the package is installed.
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import {
  chmodSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import postgres from "postgres";
import { afterAll, describe, expect, it } from "vitest";
import { unusedLocalPort } from "../helpers/ports.ts";
import { otherDatabase } from "../helpers/skip.ts";

const ROOT = resolve(import.meta.dirname, "../..");
const SCRIPT = join(ROOT, "docs/production.sh");
const baseUrl = process.env.DATABASE_URL;

/** The part of the script a user pastes: everything after `set -eu`. */
function pastedPart(script: string): string {
  const marker = "\nset -eu\n";
  return script.slice(script.indexOf(marker) + marker.length);
}

function run(command: string, args: string[], options: { cwd: string; env: Record<string, string> }) {
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((done, fail) => {
    const child = spawn(command, args, { ...options, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (c: Buffer) => {
      stdout += c.toString();
    });
    child.stderr.on("data", (c: Buffer) => {
      stderr += c.toString();
    });
    const timer = setTimeout(() => child.kill("SIGKILL"), 200_000);
    child.on("error", fail);
    child.on("close", (code) => {
      clearTimeout(timer);
      done({ code, stdout, stderr });
    });
  });
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe.skipIf(otherDatabase("postgres"))("the README's production sequence", { timeout: 240_000 }, () => {
  const suffix = randomBytes(4).toString("hex");
  const names = { db: `sg_prod_${suffix}`, owner: `sg_powner_${suffix}`, app: `sg_papp_${suffix}` };
  const work = mkdtempSync(join(tmpdir(), "sg-production-"));
  let servePid = 0;

  afterAll(async () => {
    if (servePid && alive(servePid)) process.kill(servePid, "SIGKILL");
    const admin = postgres(baseUrl ?? "", { max: 1, onnotice: () => {} });
    await admin.unsafe(`drop database if exists "${names.db}" with (force)`);
    await admin.unsafe(`drop role if exists "${names.app}"`);
    await admin.unsafe(`drop role if exists "${names.owner}"`);
    await admin.end();
    rmSync(work, { recursive: true, force: true });
  });

  it("goes from an empty server to a working first admin key", async () => {
    const url = new URL(baseUrl ?? "");
    // `npx scopegate …` as an installed package answers it: this checkout's bin.
    const bin = join(work, "bin");
    mkdirSync(bin);
    writeFileSync(
      join(bin, "npx"),
      `#!/bin/sh\n[ "$1" = scopegate ] || exit 127\nshift\nexec "${process.execPath}" "${join(ROOT, "bin/scopegate.mjs")}" "$@"\n`,
    );
    chmodSync(join(bin, "npx"), 0o755);
    const port = await unusedLocalPort();
    const secrets = join(work, "secrets");
    const auditDir = join(work, "audit");
    const log = join(work, "scopegate.log");
    const result = await run("sh", [SCRIPT], {
      cwd: work,
      env: {
        PATH: `${bin}:${process.env.PATH ?? "/usr/bin:/bin"}`,
        HOME: work,
        PG_HOST: `${url.hostname}:${url.port || "5432"}`,
        PG_SUPERUSER: decodeURIComponent(url.username) || "postgres",
        DB: names.db,
        OWNER_ROLE: names.owner,
        APP_ROLE: names.app,
        SECRETS: secrets,
        SCOPEGATE_AUDIT_DIR: auditDir,
        PORT: String(port),
        HOST: "127.0.0.1",
        LOG: log,
      },
    });
    servePid = Number(/scopegate serve: pid (\d+)/.exec(result.stdout)?.[1] ?? 0);
    expect(result.code, `${result.stdout}\n${result.stderr}\n${readFileSync(log, "utf8")}`).toBe(0);
    expect(servePid).toBeGreaterThan(0);
    expect(result.stdout).toContain('{"status":"ready"}');
    // Step 7: the admin key listed the keys through the server, itself among them.
    const listed = JSON.parse(result.stdout.trim().split("\n").at(-1) ?? "") as {
      result: { data: { name: string; scopes: string[] }[] };
    };
    expect(listed.result.data.map((k) => k.name)).toEqual(["admin"]);
    expect(listed.result.data[0]?.scopes.sort()).toEqual(["admin:audit", "admin:documents", "admin:keys"]);

    // Three secrets, each 32 random bytes in base64, readable by the owner only.
    const secretTexts = ["pepper", "audit-key", "audit-signing-key"].map((name) => {
      const path = join(secrets, name);
      expect(statSync(path).mode & 0o777, name).toBe(0o600);
      const text = readFileSync(path, "utf8").trim();
      expect(Buffer.from(text, "base64")).toHaveLength(32);
      return text;
    });
    expect(new Set(secretTexts).size).toBe(3);

    // The server runs as the application role, and no secret reached its log.
    const admin = postgres(baseUrl ?? "", { max: 1, onnotice: () => {} });
    const sessions = await admin<{ usename: string }[]>`
      select distinct usename from pg_stat_activity where datname = ${names.db} and application_name = 'scopegate'`;
    const passwords = await admin<{ n: number }[]>`
      select count(*)::int as n from pg_authid where rolname in (${names.owner}, ${names.app}) and rolpassword is not null`;
    await admin.end();
    expect(sessions.map((s) => s.usename)).toEqual([names.app]);
    expect(passwords).toEqual([{ n: 2 }]);

    // Stopped, it leaves its signed checkpoints where SCOPEGATE_AUDIT_DIR says.
    process.kill(servePid, "SIGTERM");
    for (let i = 0; i < 100 && alive(servePid); i++) await new Promise((r) => setTimeout(r, 100));
    expect(alive(servePid)).toBe(false);
    expect(readdirSync(auditDir).some((n) => n.startsWith("checkpoints-"))).toBe(true);
    const logText = readFileSync(log, "utf8");
    for (const text of secretTexts) expect(logText).not.toContain(text);
  });
});

// Runs on both suites: it needs no database.
describe("the README's production block", () => {
  it("is what the README shows, when the README carries the block", () => {
    const readme = readFileSync(join(ROOT, "README.md"), "utf8");
    const marker = "<!-- docs/production.sh -->";
    const at = readme.indexOf(marker);
    const block = /```sh\n([\s\S]*?)```/.exec(readme.slice(at));
    expect(block?.[1]).toBe(pastedPart(readFileSync(SCRIPT, "utf8")));
  });
});
