// keys.whoami (and every scoped procedure that is not admitted) takes a rate slot (but spends no use); a dead key repeating it cannot fill the log;
// the Bearer scheme is matched in any case; error log lines keep stack, cause chain and the
// driver's code, and stay redacted.
import { sql } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { createLogger } from "../../server/logger.ts";
import { FLOOD_THRESHOLD_PER_MINUTE } from "../../server/services.ts";
import { useTestServer } from "../helpers/http.ts";
import { auditRows, callerFor, createTestKey, useTestServices } from "../helpers/services.ts";
import { bearer, expectErrorResponse, send } from "../http/http-helpers.ts";

const services = useTestServices();
const server = useTestServer(services);

const whoami = (key: string, scheme = "Bearer") =>
  send(`${server().url}/trpc/keys.whoami`, { headers: { authorization: `${scheme} ${key}` } });

describe("keys.whoami", () => {
  it("takes a rate slot: past rpm it is refused 429 rate_limited, and it never spends a use", async () => {
    const s = services();
    const key = await createTestKey(s, { scopes: ["endpoint:chat"], rpm: 3, maxUses: 1 });
    for (let i = 0; i < 3; i++) expect((await whoami(key.plaintext)).status).toBe(200);
    const refused = await whoami(key.plaintext);
    const error = expectErrorResponse(refused, 429, "rate_limited");
    expect(error.data.retryAfterMs).toBeGreaterThan(0);
    expect(refused.headers.get("retry-after")).toMatch(/^\d+$/);
    await s.audit.drain();
    const rows = (await auditRows(s.database)).filter((r) => r.procedure === "keys.whoami");
    expect(rows.map((r) => [r.phase, r.outcome, r.reason])).toEqual([
      ["final", "ok", null],
      ["final", "ok", null],
      ["final", "ok", null],
      ["final", "denied", "rate_limited"],
    ]);
    const [limits] = await s.database.rows<{ uses: number }>(
      sql`select uses::int as uses from key_limits where id = ${key.keyId}`,
    );
    expect(limits?.uses).toBe(0);
  });

  // Not only whoami: every scoped procedure that is not admitted takes its slot in the builder.
  it.each([
    ["keys.whoami", undefined],
    ["documents.browse", { source: "demo" }],
    ["audit.trace", { requestId: "req_abc" }],
  ])("%s is not admitted but takes a rate slot, never a use", async (path, input) => {
    const s = services();
    const key = await createTestKey(s, { scopes: ["endpoint:chat", "db:demo"], rpm: 2, maxUses: 1 });
    const query = input === undefined ? "" : `?input=${encodeURIComponent(JSON.stringify(input))}`;
    const call = () =>
      send(`${server().url}/trpc/${path}${query}`, { headers: { authorization: `Bearer ${key.plaintext}` } });
    for (let i = 0; i < 2; i++) expect((await call()).status).toBe(200);
    expectErrorResponse(await call(), 429, "rate_limited");
    const [limits] = await s.database.rows<{ uses: number }>(
      sql`select uses::int as uses from key_limits where id = ${key.keyId}`,
    );
    expect(limits?.uses).toBe(0);
  });

  it("charges the rate bucket of every ancestor too", async () => {
    const s = services();
    const parent = await createTestKey(s, { scopes: ["endpoint:chat", "keys:derive"], rpm: 3 });
    // Deriving is itself an admitted call: the first of the parent's three slots.
    const child = await callerFor(s, parent.plaintext).keys.derive({ scopes: ["endpoint:chat"] });
    expect((await whoami(child.key)).status).toBe(200);
    expect((await whoami(parent.plaintext)).status).toBe(200);
    expectErrorResponse(await whoami(child.key), 429, "rate_limited");
  });

  it("a used-up key asking again and again is aggregated past the flood threshold", async () => {
    const s = services();
    const key = await createTestKey(s, { scopes: ["endpoint:summarize-doc"], maxUses: 1 });
    await callerFor(s, key.plaintext).summarizeDoc({ text: "One sentence. Another sentence." });
    // The key cache may hold the key as loaded before its use for up to a second.
    s.keyCache.clear();
    const attempts = FLOOD_THRESHOLD_PER_MINUTE + 30;
    for (let i = 0; i < attempts; i++)
      expectErrorResponse(await whoami(key.plaintext), 401, "usage_exhausted");
    await s.audit.drain();
    const individual = (await auditRows(s.database)).filter((r) => r.reason === "usage_exhausted");
    expect(individual).toHaveLength(FLOOD_THRESHOLD_PER_MINUTE);
  });
});

describe("the Bearer scheme", () => {
  for (const scheme of ["Bearer", "bearer", "BEARER", "bEaReR", "Bearer "]) {
    it(`accepts "${scheme} <key>"`, async () => {
      const key = await createTestKey(services(), { scopes: ["endpoint:chat"] });
      const result = await whoami(key.plaintext, scheme);
      expect(result.status, result.text).toBe(200);
    });
  }

  it("refuses other schemes", async () => {
    const key = await createTestKey(services(), { scopes: ["endpoint:chat"] });
    const result = await send(`${server().url}/trpc/keys.whoami`, {
      headers: { ...bearer(key.plaintext), authorization: `Basic ${key.plaintext}` },
    });
    expect(result.status).toBe(401);
  });
});

describe("error log lines", () => {
  it("keep the stack, the cause chain and the driver's code, redacted", async () => {
    const s = services();
    const key = await createTestKey(s, { scopes: ["endpoint:chat"] });
    const lines: string[] = [];
    const logger = createLogger("error", (line) => lines.push(line));
    const driverError = await s.database.db.execute(sql`select * from no_such_table`).then(
      () => null,
      (error: unknown) => error,
    );
    expect(driverError).toBeInstanceOf(Error);
    const error = new Error(`audit write failed for ${key.plaintext}`, { cause: driverError });
    logger.error("audit write failed", { error });
    expect(lines).toHaveLength(1);
    const line = lines[0] ?? "";
    expect(line).not.toContain(key.plaintext);
    const logged = JSON.parse(line) as { error: Record<string, unknown> };
    expect(logged.error.stack).toMatch(/whoami-bearer-logs\.test\.ts/);
    // Somewhere down the cause chain (drizzle wraps the driver's error) is Postgres's code.
    const codes: unknown[] = [];
    for (let e: Record<string, unknown> | undefined = logged.error; e; e = e.cause as typeof e) {
      codes.push(e.code);
      expect(typeof e.message).toBe("string");
    }
    expect(codes).toContain("42P01");
    expect(line).toContain("no_such_table");
  });

  it("redact a secret that follows a newline or tab, and stay valid JSON", () => {
    const lines: string[] = [];
    const logger = createLogger("error", (line) => lines.push(line));
    const secrets = [
      "sk-proj-abcdefghijklmnopqrstuv",
      "ghp_abcdefghijklmnopqrstuvwxyz",
      "AbCdEfGhIjKlMnOpQrStUvWxYz0123456789AB",
    ];
    logger.error("upstream failed", {
      error: new Error(`provider said:\n${secrets[0]}\t${secrets[1]}\n${secrets[2]}`),
      note: `line\n${secrets[1]}`,
    });
    const line = lines[0] ?? "";
    for (const secret of secrets) expect(line).not.toContain(secret);
    expect(() => JSON.parse(line)).not.toThrow();
  });
});
