// Granting scopes through keys.create: no key grants what it does not hold (wildcards cover their
// family only), unknown or malformed scopes are bad input naming the valid ones, and only the
// local operator is root.
import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { apiKeys } from "../../db/index.ts";
import { FIXED_SCOPES } from "../../server/auth/scopes.ts";
import type { RunningServices } from "../../server/services.ts";
import { auditRows, callerFor, dumpAllTables, rememberIssued, useTestServices } from "../helpers/services.ts";
import { errorData, expectRefusal, keyHolding, outcomeOf } from "./support.ts";

const services = useTestServices();

/** Key rows, and the key-creation events, that exist now. */
async function snapshot(s: RunningServices) {
  const keys = await s.database.db.select({ id: apiKeys.id }).from(apiKeys);
  const events = (await auditRows(s.database)).filter(
    (r) => r.phase === "event" && r.procedure === "keys.create",
  );
  return { keys: keys.length, events: events.length };
}

async function create(s: RunningServices, granter: string, scopes: string[]) {
  const created = await callerFor(s, granter).keys.create({ name: "granted", scopes });
  rememberIssued(created.key);
  return created;
}

describe("no key grants a scope it does not hold", () => {
  it("admin:keys without tool:external-payment-api cannot grant it", async () => {
    const s = services();
    const admin = await keyHolding(s, ["admin:keys", "endpoint:chat", "prompt-processing"]);
    const before = await snapshot(s);
    const error = await expectRefusal(
      callerFor(s, admin.plaintext).keys.create({
        name: "payments",
        scopes: ["endpoint:chat", "tool:external-payment-api"],
      }),
      "FORBIDDEN",
      "missing_scope",
    );
    expect(error.details.missingScopes).toEqual(["tool:external-payment-api"]);
    expect(error.message).toContain("tool:external-payment-api");
    // No key row and no creation event were written.
    expect(await snapshot(s)).toEqual(before);
    const final = (await auditRows(s.database)).find(
      (r) => r.phase === "final" && r.procedure === "keys.create",
    );
    expect([final?.outcome, final?.reason, final?.keyId]).toEqual(["denied", "missing_scope", admin.keyId]);

    // The same admin may grant what it holds.
    const ok = await create(s, admin.plaintext, ["endpoint:chat", "prompt-processing"]);
    expect(ok.scopes).toEqual(["endpoint:chat", "prompt-processing"]);
  });

  it.each([
    { held: ["admin:keys"], asked: ["admin:audit"], missing: ["admin:audit"] },
    {
      held: ["admin:keys"],
      asked: ["keys:derive", "endpoint:chat"],
      missing: ["keys:derive", "endpoint:chat"],
    },
    { held: ["admin:keys", "db:private-documents"], asked: ["db:*"], missing: ["db:*"] },
    { held: ["admin:keys", "db:*"], asked: ["tool:search-documents"], missing: ["tool:search-documents"] },
    { held: ["admin:keys", "tool:search-documents"], asked: ["tool:*"], missing: ["tool:*"] },
    { held: ["admin:keys", "db:public"], asked: ["db:public", "db:private"], missing: ["db:private"] },
  ])("holding $held, granting $asked -> missing $missing", async ({ held, asked, missing }) => {
    const s = services();
    const admin = await keyHolding(s, held);
    const before = await snapshot(s);
    const error = await expectRefusal(
      callerFor(s, admin.plaintext).keys.create({ name: "n", scopes: asked }),
      "FORBIDDEN",
      "missing_scope",
    );
    expect(error.details.missingScopes).toEqual(missing);
    expect(await snapshot(s)).toEqual(before);
  });

  it("wildcards let a holder grant any name of their family, and themselves", async () => {
    const s = services();
    const admin = await keyHolding(s, ["admin:keys", "db:*", "tool:*"]);
    for (const scopes of [
      ["db:anything"],
      ["db:private-documents", "db:x-1"],
      ["db:*"],
      ["tool:external-payment-api"],
      ["tool:*"],
    ]) {
      const created = await create(s, admin.plaintext, scopes);
      expect((await callerFor(s, created.key).keys.whoami()).scopes).toEqual(scopes);
    }
  });
});

describe("unknown or malformed scopes", () => {
  it.each([
    ["endpoint:unknown"],
    ["admin:everything"],
    ["DB:private-documents"],
    ["db:Private"],
    ["db:"],
    ["db:-x"],
    ["prompt_processing"],
    ["*"],
    ["endpoint:chat", "tool:has space"],
  ])("%j -> BAD_REQUEST invalid_input listing the valid scopes", async (...asked) => {
    const s = services();
    // Even a granter holding every scope cannot grant what is not a scope.
    const admin = await keyHolding(s, [...FIXED_SCOPES, "db:*", "tool:*"]);
    const before = await snapshot(s);
    const error = await expectRefusal(
      callerFor(s, admin.plaintext).keys.create({ name: "n", scopes: asked }),
      "BAD_REQUEST",
      "invalid_input",
    );
    const bad = asked.filter((a) => a !== "endpoint:chat");
    for (const scope of bad) expect(error.message).toContain(scope);
    // The formatter's type merges zod's field errors with ours; at runtime both are string lists.
    const fieldErrors = errorData(error, "keys.create").fieldErrors as Record<string, string[]> | undefined;
    const listed = (fieldErrors?.scopes ?? []).join(" ");
    for (const valid of [
      "endpoint:summarize-doc",
      "prompt-processing",
      "admin:keys",
      "db:<source>",
      "tool:*",
    ]) {
      expect(listed).toContain(valid);
      expect(error.message).toContain(valid);
    }
    expect(await snapshot(s)).toEqual(before);
  });
});

describe("the local operator is root", () => {
  it("grants any scope through the pipeline, and its token is stored nowhere", async () => {
    const s = services();
    const token = randomBytes(32).toString("base64url");
    const operator: RunningServices = { ...s, localAdminToken: token };
    const everything = [
      ...FIXED_SCOPES,
      "db:*",
      "tool:*",
      "tool:external-payment-api",
      "db:private-documents",
    ];
    const created = await create(operator, token, everything);
    expect(created.scopes).toEqual(everything);
    expect((await callerFor(s, created.key).keys.whoami()).scopes).toEqual(everything);
    const final = (await auditRows(s.database)).find(
      (r) => r.phase === "final" && r.procedure === "keys.create",
    );
    expect([final?.outcome, final?.keyId]).toEqual(["ok", "local-cli"]);
    expect(await dumpAllTables(s.database)).not.toContain(token);
    expect(s.logLines.join("\n")).not.toContain(token);
    // Without the configured token the same bearer is just an invalid key.
    await expectRefusal(
      callerFor(s, token).keys.create({ name: "n", scopes: ["admin:keys"] }),
      "UNAUTHORIZED",
      "invalid_key",
    );
    expect(await outcomeOf(callerFor(s, created.key).keys.list())).toBeNull();
  });
});
