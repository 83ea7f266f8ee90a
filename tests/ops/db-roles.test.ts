// The least-privilege roles on a real Postgres: the application role can append and read audit
// records but never update, delete or truncate them; the server runs under it; the owner role
// keeps the right to prune.
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import postgres from "postgres";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createDatabase } from "../../db/index.ts";
import { parseVersionedSecret } from "../../server/config.ts";
import { createLogger } from "../../server/logger.ts";
import { openServices, type RunningServices } from "../../server/services.ts";
import { createScratchDatabase, dropDatabase, testDatabaseUrl } from "../helpers/database.ts";
import { type ServeProcess, sharedSecrets, startServeProcess } from "../helpers/serve-process.ts";
import { createTestKey, testConfig } from "../helpers/services.ts";
import { otherDatabase } from "../helpers/skip.ts";

const baseUrl = testDatabaseUrl();
const BIN = fileURLToPath(new URL("../../bin/scopegate.mjs", import.meta.url));

function asRole(url: string, role: string): string {
  const u = new URL(url);
  u.username = role;
  u.password = "";
  return u.toString();
}

async function sqlState(run: () => Promise<unknown>): Promise<string | null> {
  try {
    await run();
    return null;
  } catch (error) {
    return (error as { code?: string }).code ?? "unknown";
  }
}

describe.skipIf(otherDatabase("postgres"))("least-privilege database roles", () => {
  const suffix = randomBytes(4).toString("hex");
  const roles = { owner: `sg_owner_${suffix}`, app: `sg_app_${suffix}` };
  let databaseUrl = "";
  let admin: postgres.Sql;
  let app: postgres.Sql;
  let owner: postgres.Sql;
  let server: ServeProcess | undefined;
  let root: RunningServices | undefined;

  beforeAll(async () => {
    databaseUrl = await createScratchDatabase(baseUrl as string);
    admin = postgres(databaseUrl, { max: 1, onnotice: () => {} });
    // The README's deployment steps: roles (as a superuser), migrations (as the owner role),
    // roles again so the new tables get their grants.
    const cli = (url: string, ...args: string[]) =>
      promisify(execFile)(process.execPath, [BIN, ...args], {
        env: { ...process.env, ...sharedSecrets(), DATABASE_URL: url },
      });
    const applyRoles = () =>
      cli(databaseUrl, "db", "roles", "--owner-role", roles.owner, "--app-role", roles.app, "--apply");
    await applyRoles();
    await cli(asRole(databaseUrl, roles.owner), "migrate");
    await applyRoles();
    app = postgres(asRole(databaseUrl, roles.app), { max: 1, onnotice: () => {} });
    owner = postgres(asRole(databaseUrl, roles.owner), { max: 1, onnotice: () => {} });
  }, 60_000);

  afterAll(async () => {
    await server?.stop();
    await root?.close();
    await root?.database.close();
    await Promise.all([app?.end(), owner?.end(), admin?.end()]);
    if (databaseUrl) await dropDatabase(baseUrl as string, databaseUrl);
    const cleanup = postgres(baseUrl as string, { max: 1, onnotice: () => {} });
    await cleanup.unsafe(`drop role if exists "${roles.app}"; drop role if exists "${roles.owner}"`);
    await cleanup.end();
  });

  it("lets the application role append audit records but never rewrite them", async () => {
    await app`insert into audit_log (writer_id, seq, ts, request_id, phase, prev_hash, hash)
              values ('w_test', 1, now(), 'req_x', 'event', 'p', 'h')`;
    expect(await app`select count(*)::int as n from audit_log`).toEqual([{ n: 1 }]);
    // 42501: insufficient_privilege.
    expect(await sqlState(() => app`update audit_log set reason = 'forged'`)).toBe("42501");
    expect(await sqlState(() => app`delete from audit_log`)).toBe("42501");
    expect(await sqlState(() => app`truncate audit_log`)).toBe("42501");
    expect(await sqlState(() => app`update audit_checkpoints set signature = 'x'`)).toBe("42501");
    expect(await sqlState(() => app`drop table audit_log`)).toBe("42501");
    expect(await app`select count(*)::int as n from audit_log where reason = 'forged'`).toEqual([{ n: 0 }]);
  });

  it("leaves pruning to the owner role", async () => {
    expect(await sqlState(() => owner`delete from audit_log where writer_id = 'w_test'`)).toBeNull();
  });

  it("runs the server under the application role", async () => {
    const secrets = sharedSecrets();
    // Secrets as a secret manager mounts them: one file each.
    const dir = mkdtempSync(join(tmpdir(), "sg-secrets-"));
    const asFiles: Record<string, string> = {};
    for (const name of ["SCOPEGATE_PEPPER", "SCOPEGATE_AUDIT_KEY", "SCOPEGATE_AUDIT_SIGNING_KEY"]) {
      writeFileSync(join(dir, name), `${secrets[name]}\n`, { mode: 0o600 });
      asFiles[`${name}_FILE`] = join(dir, name);
    }
    server = await startServeProcess({
      ...asFiles,
      SCOPEGATE_MODEL_PROVIDER: "offline",
      DATABASE_URL: asRole(databaseUrl, roles.app),
    });
    expect((await fetch(`${server.url}/readyz`)).status).toBe(200);
    root = await openServices(
      testConfig({
        peppers: parseVersionedSecret("SCOPEGATE_PEPPER", secrets.SCOPEGATE_PEPPER ?? ""),
        auditKey: parseVersionedSecret("SCOPEGATE_AUDIT_KEY", secrets.SCOPEGATE_AUDIT_KEY ?? ""),
      }),
      {
        logger: createLogger("silent"),
        localAdminToken: null,
        database: await createDatabase({ kind: "postgres", url: databaseUrl, maxConnections: 1 }),
      },
    );
    const key = await createTestKey(root, { scopes: ["endpoint:summarize-doc"] });
    const response = await fetch(`${server.url}/trpc/summarizeDoc`, {
      method: "POST",
      headers: { authorization: `Bearer ${key.plaintext}`, "content-type": "application/json" },
      body: JSON.stringify({ text: "Least privilege. The server appends, never rewrites." }),
    });
    expect(response.status).toBe(200);
    const rows = await app`select phase, outcome from audit_log where key_id = ${key.keyId} order by id`;
    expect(rows.map((r) => r.phase)).toEqual(["admitted", "final"]);
  });
});
