// CLI scenarios shared by the embedded (PGlite) and Postgres suites: each takes the child
// environment and returns what it saw, so the suites add their mode-specific assertions.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { expect } from "vitest";
import { type Env, runCli, runJson, startServe, summarize } from "./cli-helpers.ts";

export const KEY_FORMAT = /^sg_(live|test)_[0-9A-Za-z]{12}_[0-9A-Za-z]{38}$/;
const KEY_ANYWHERE = /sg_(?:live|test)_[0-9A-Za-z]{12}_[0-9A-Za-z]{38}/;

export interface CreatedKey {
  keyId: string;
  key: string;
  scopes: string[];
  expiresAt: string | null;
}

export interface AuditItem {
  id: number;
  requestId: string;
  callId: string | null;
  phase: string;
  outcome: string | null;
  reason: string | null;
  procedure: string | null;
  keyId: string | null;
  clientAddress: string | null;
}

export interface KeyItem {
  keyId: string;
  name: string;
  scopes: string[];
  revokedAt: string | null;
}

export function createKey(env: Env, name: string): Promise<CreatedKey> {
  return runJson<CreatedKey>(["keys", "create", "--name", name, "--scope", "endpoint:summarize-doc"], env);
}

/** `keys create` while `serve` runs, then the new key summarizes over HTTP. */
export async function createKeyWhileServing(env: Env) {
  const server = await startServe(env);
  const created = await createKey(env, "from-cli");
  expect(created.key).toMatch(KEY_FORMAT);
  expect(created.scopes).toEqual(["endpoint:summarize-doc"]);

  const call = await summarize(server.url, created.key);
  expect(call.status, JSON.stringify(call.body)).toBe(200);
  expect(call.body).toMatchObject({ result: { data: { model: "offline" } } });

  const audit = await runJson<AuditItem[]>(["audit", "list", "--limit", "100"], env);
  const creation = audit.find((r) => r.procedure === "keys.create" && r.phase === "final");
  expect(creation).toMatchObject({ keyId: "local-cli", outcome: "ok" });
  const summary = audit.find((r) => r.procedure === "summarizeDoc" && r.phase === "final");
  expect(summary).toMatchObject({ keyId: created.keyId, outcome: "ok" });
  // Audit rows and the server's own output never hold the key.
  expect(JSON.stringify(audit)).not.toContain(created.key);
  const output = server.output();
  expect(output.stdout + output.stderr).not.toContain(created.key);
  return { server, created, creation, audit };
}

/** With no server: the CLI opens the database itself; a revoked key is refused on next start. */
export async function revokeWithServerStopped(env: Env) {
  const created = await createKey(env, "to-revoke");
  const listed = await runJson<KeyItem[]>(["keys", "list"], env);
  expect(listed.find((k) => k.keyId === created.keyId)).toMatchObject({ name: "to-revoke", revokedAt: null });
  // Listing shows metadata only: never the key or its secret.
  expect(JSON.stringify(listed)).not.toMatch(KEY_ANYWHERE);
  expect(JSON.stringify(listed)).not.toContain(created.key.slice(21, 53));

  const revoke = await runCli(["keys", "revoke", created.keyId], env);
  expect(revoke.code, revoke.stderr).toBe(0);
  expect(revoke.stdout).toContain(`revoked ${created.keyId}`);
  const after = await runJson<KeyItem[]>(["keys", "list"], env);
  expect(after.find((k) => k.keyId === created.keyId)?.revokedAt).toEqual(expect.any(String));

  const server = await startServe(env);
  const refused = await summarize(server.url, created.key);
  expect(refused.status).toBe(401);
  expect(refused.body).toMatchObject({ error: { data: { reason: "revoked_key" } } });
  await server.stop();
  return created;
}

// ESC[31m (a colour change) and U+202E (right-to-left override) would rewrite the terminal.
const HOSTILE_TITLE = "Quarterly \u001b[31mred\u001b[0m report \u202e";
const hasTerminalControls = (text: string) => text.includes("\u001b") || text.includes("\u202e");

/** docs add/list and audit list: JSON field names, and escaped human output. */
export async function documentsAndAudit(env: Env, dir: string) {
  const file = join(dir, "doc.txt");
  writeFileSync(file, "Revenue grew in the third quarter. Costs stayed flat.\n");
  const doc = await runJson<{ id: string; source: string; title: string }>(
    ["docs", "add", "--source", "reports", "--title", HOSTILE_TITLE, file],
    env,
  );
  expect(doc).toEqual({ id: expect.any(String), source: "reports", title: expect.any(String) });

  const docs = await runJson<Array<{ id: string; source: string }>>(["docs", "list"], env);
  expect(docs.map((d) => d.id)).toContain(doc.id);

  const audit = await runJson<AuditItem[]>(["audit", "list"], env);
  expect(audit.length).toBeGreaterThan(0);
  for (const row of audit) {
    expect(row).toHaveProperty("requestId", expect.any(String));
    expect(row).toHaveProperty("phase", expect.stringMatching(/^(admitted|final|event)$/));
    expect(row).toHaveProperty("callId");
    expect(row).toHaveProperty("outcome");
  }
  const added = audit.find((r) => r.procedure === "documents.add" && r.phase === "final");
  expect(added).toMatchObject({ outcome: "ok", callId: expect.any(String) });

  const human = await runCli(["docs", "list"], env);
  expect(human.code, human.stderr).toBe(0);
  expect(human.stdout).toContain(doc.id);
  expect(hasTerminalControls(human.stdout)).toBe(false);
  expect(human.stdout).toContain("\\u001b[31mred");
  expect(human.stdout).toContain("\\u202e");

  const humanAdd = await runCli(["docs", "add", "--source", "reports", "--title", HOSTILE_TITLE, file], env);
  expect(humanAdd.code, humanAdd.stderr).toBe(0);
  expect(hasTerminalControls(humanAdd.stdout)).toBe(false);

  const humanAudit = await runCli(["audit", "list"], env);
  expect(humanAudit.code, humanAudit.stderr).toBe(0);
  expect(humanAudit.stdout).toMatch(/requestId/);
  expect(hasTerminalControls(humanAudit.stdout)).toBe(false);
  return doc;
}
