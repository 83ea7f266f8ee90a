// The same CLI scenarios against Postgres (DATABASE_URL): a scratch database of its own, the
// shared secrets and the model provider in the child environment, as production requires.
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createScratchDatabase, dropDatabase } from "../helpers/database.ts";
import { otherDatabase } from "../helpers/skip.ts";
import {
  type Env,
  postgresEnv,
  removeDir,
  runCli,
  startServe,
  stopAllChildren,
  summarize,
  tempDataDir,
} from "./cli-helpers.ts";
import { createKey, createKeyWhileServing, documentsAndAudit, revokeWithServerStopped } from "./scenarios.ts";

const baseUrl = process.env.DATABASE_URL;

// Without DATABASE_URL there is no Postgres to run against; embedded.test.ts covers PGlite.
describe.skipIf(otherDatabase("postgres"))("CLI on Postgres", { timeout: 180_000 }, () => {
  let databaseUrl: string;
  let dataDir: string;
  let env: Env;

  // A fresh database per test, so no test sees another's keys or audit rows.
  beforeEach(async () => {
    databaseUrl = await createScratchDatabase(baseUrl ?? "");
    dataDir = tempDataDir();
    env = postgresEnv(databaseUrl, dataDir);
  });
  afterEach(async () => {
    await stopAllChildren();
    removeDir(dataDir);
    await dropDatabase(baseUrl ?? "", databaseUrl);
  });

  it("creates a key while serve runs, and that key works against the server", async () => {
    const { creation } = await createKeyWhileServing(env);
    // With Postgres there is no lock: the CLI acts on the database itself, as root.
    expect(creation?.clientAddress).toBe("local");
  });

  it("lists and revokes keys with no server; a revoked key is refused after restart", async () => {
    await revokeWithServerStopped(env);
  });

  it("prints docs and audit rows with the API's field names and escapes control characters", async () => {
    await documentsAndAudit(env, dataDir);
  });

  it("a key revoked by the CLI is refused by a running server within one second", async () => {
    const server = await startServe(env);
    const created = await createKey(env, "revoked-live");
    expect((await summarize(server.url, created.key)).status).toBe(200);
    const revoke = await runCli(["keys", "revoke", created.keyId], env);
    expect(revoke.code, revoke.stderr).toBe(0);
    await new Promise((r) => setTimeout(r, 1_000));
    const refused = await summarize(server.url, created.key);
    expect(refused.status).toBe(401);
    expect(refused.body).toMatchObject({ error: { data: { reason: "revoked_key" } } });
  });

  it("refuses to start without the shared secrets, naming the variable", async () => {
    const { SCOPEGATE_PEPPER: _pepper, ...withoutPepper } = env;
    const result = await runCli(["keys", "list"], withoutPepper);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("SCOPEGATE_PEPPER");
  });
});
