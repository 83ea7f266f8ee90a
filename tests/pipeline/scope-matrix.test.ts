// Every procedure x a set of granted scopes -> OK, or FORBIDDEN naming exactly the missing
// scopes: procedure scopes first, then input-derived ones (db:<source>, tool:<name>,
// prompt-processing), wildcards db:* / tool:*, and case-sensitive matching.
import { describe, expect, it } from "vitest";
import { addDocument } from "../../server/documents/store.ts";
import { appRouter } from "../../server/routers/app.ts";
import type { RunningServices } from "../../server/services.ts";
import { callerFor, createTestKey, useTestServices } from "../helpers/services.ts";
import { type Caller, keyHolding, outcomeOf } from "./support.ts";

const services = useTestServices();

interface Fixtures {
  privateDoc: { source: string; id: string };
  notesDoc: { source: string; id: string };
  otherKeyId: string;
}

async function fixtures(s: RunningServices): Promise<Fixtures> {
  const privateDoc = await addDocument(s.database.db, {
    source: "private-documents",
    title: "Payroll",
    body: "The payroll run happens on the last Friday. Salaries are confidential.",
  });
  const notesDoc = await addDocument(s.database.db, {
    source: "team-notes",
    title: "Standup",
    body: "The team meets at nine. Notes are kept for a week.",
  });
  const other = await createTestKey(s, { scopes: ["endpoint:chat"] });
  return {
    privateDoc: { source: privateDoc.source, id: privateDoc.id },
    notesDoc: { source: notesDoc.source, id: notesDoc.id },
    otherKeyId: other.keyId,
  };
}

interface Row {
  procedure: string;
  what: string;
  grants: string[];
  call: (api: Caller, f: Fixtures) => Promise<unknown>;
  /** "OK", the exact missingScopes of the FORBIDDEN, or another refusal. */
  expected: "OK" | string[] | { code: string; reason: string };
}

const TEXT = "Scopegate checks every key. Keys carry scopes. Scopes are matched exactly.";
const HELLO = [{ role: "user" as const, content: "hello" }];
const PAY = "external-payment-api";

const summarize = (what: string, call: Row["call"], grants: string[], expected: Row["expected"]): Row => ({
  procedure: "summarizeDoc",
  what,
  grants,
  call,
  expected,
});
const text = (api: Caller) => api.summarizeDoc({ text: TEXT });
const privateDoc = (api: Caller, f: Fixtures) => api.summarizeDoc({ document: f.privateDoc });
const instructed = (api: Caller) => api.summarizeDoc({ text: TEXT, instruction: "Use bullet points." });
const instructedDoc = (api: Caller, f: Fixtures) =>
  api.summarizeDoc({ document: f.privateDoc, instruction: "Use bullet points." });

const chat = (what: string, call: Row["call"], grants: string[], expected: Row["expected"]): Row => ({
  procedure: "chat",
  what,
  grants,
  call,
  expected,
});
const stream = (what: string, call: Row["call"], grants: string[], expected: Row["expected"]): Row => ({
  ...chat(what, call, grants, expected),
  procedure: "chatStream",
});
const plainChat = (api: Caller) => api.chat({ messages: HELLO });
/** Reads the whole stream: refusals before the first event are thrown by the call itself. */
const streamChat = async (api: Caller) => {
  const events = [];
  for await (const event of await api.chatStream({ messages: HELLO, tools: [PAY] })) events.push(event);
  expect(events.at(-1)?.type).toBe("done");
};
const chatWithDocs = (api: Caller, f: Fixtures) =>
  api.chat({ messages: HELLO, documents: [f.privateDoc, f.notesDoc] });
const chatWithTool = (api: Caller) => api.chat({ messages: HELLO, tools: [PAY] });
const CHAT = ["endpoint:chat", "prompt-processing"];

const admin = (
  procedure: string,
  call: Row["call"],
  grants: string[],
  expected: Row["expected"],
  what = "",
): Row => ({ procedure, what, grants, call, expected });
const deriveKey = (api: Caller) => api.keys.derive({ scopes: ["endpoint:chat"], ttlSeconds: 60 });
const rotateKey = (api: Caller, f: Fixtures) => api.keys.rotate({ keyId: f.otherKeyId });
const setLimits = (api: Caller, f: Fixtures) => api.keys.setLimits({ keyId: f.otherKeyId, rpm: 10 });
const since = new Date(Date.UTC(2020, 0, 1)).toISOString();
const createKey = (api: Caller) => api.keys.create({ name: "child", scopes: ["endpoint:chat"] });
const addDoc = (api: Caller) =>
  api.documents.add({ source: "private-documents", title: "Plan", body: "The plan is short." });
const removeDoc = (api: Caller, f: Fixtures) => api.documents.remove(f.privateDoc);

const MATRIX: Row[] = [
  summarize("text", text, [], ["endpoint:summarize-doc"]),
  summarize("text", text, ["endpoint:summarize-doc"], "OK"),
  summarize("text", text, CHAT, ["endpoint:summarize-doc"]),
  summarize("text", text, ["Endpoint:summarize-doc"], ["endpoint:summarize-doc"]),
  summarize("unheld source", privateDoc, ["endpoint:summarize-doc"], ["db:private-documents"]),
  summarize(
    "other source held",
    privateDoc,
    ["endpoint:summarize-doc", "db:team-notes"],
    ["db:private-documents"],
  ),
  summarize("held source", privateDoc, ["endpoint:summarize-doc", "db:private-documents"], "OK"),
  summarize("db:*", privateDoc, ["endpoint:summarize-doc", "db:*"], "OK"),
  summarize("tool:* is not db:*", privateDoc, ["endpoint:summarize-doc", "tool:*"], ["db:private-documents"]),
  summarize(
    "DB: is not db:",
    privateDoc,
    ["endpoint:summarize-doc", "DB:private-documents"],
    ["db:private-documents"],
  ),
  summarize(
    "db: name case",
    privateDoc,
    ["endpoint:summarize-doc", "db:Private-Documents"],
    ["db:private-documents"],
  ),
  summarize(
    "source scope before procedure scope",
    privateDoc,
    ["db:private-documents"],
    ["endpoint:summarize-doc"],
  ),
  summarize("instruction", instructed, ["endpoint:summarize-doc"], ["prompt-processing"]),
  summarize("instruction", instructed, ["endpoint:summarize-doc", "prompt-processing"], "OK"),
  summarize(
    "instruction + unheld source",
    instructedDoc,
    ["endpoint:summarize-doc"],
    ["db:private-documents", "prompt-processing"],
  ),
  summarize(
    "instruction + held source",
    instructedDoc,
    ["endpoint:summarize-doc", "prompt-processing", "db:*"],
    "OK",
  ),

  chat("no scopes", plainChat, [], CHAT),
  chat("endpoint only", plainChat, ["endpoint:chat"], ["prompt-processing"]),
  chat("prompt-processing only", plainChat, ["prompt-processing"], ["endpoint:chat"]),
  chat("summarize key", plainChat, ["endpoint:summarize-doc"], CHAT),
  chat("both", plainChat, CHAT, "OK"),
  chat("case", plainChat, ["endpoint:Chat", "prompt-processing"], ["endpoint:chat"]),
  // Procedure scopes are checked (and named) before the input's.
  chat("procedure scope before document scopes", chatWithDocs, ["endpoint:chat"], ["prompt-processing"]),
  chat("documents, none held", chatWithDocs, CHAT, ["db:private-documents", "db:team-notes"]),
  chat("documents, one held", chatWithDocs, [...CHAT, "db:team-notes"], ["db:private-documents"]),
  chat("documents, both held", chatWithDocs, [...CHAT, "db:team-notes", "db:private-documents"], "OK"),
  chat("documents, db:*", chatWithDocs, [...CHAT, "db:*"], "OK"),
  chat("tool, not held", chatWithTool, CHAT, [`tool:${PAY}`]),
  chat("tool, another held", chatWithTool, [...CHAT, "tool:search-documents"], [`tool:${PAY}`]),
  chat("tool, held", chatWithTool, [...CHAT, `tool:${PAY}`], "OK"),
  chat("tool, tool:*", chatWithTool, [...CHAT, "tool:*"], "OK"),
  chat("tool, db:* is not tool:*", chatWithTool, [...CHAT, "db:*"], [`tool:${PAY}`]),
  chat("tool, TOOL: is not tool:", chatWithTool, [...CHAT, `TOOL:${PAY}`], [`tool:${PAY}`]),

  stream("stream, no scopes", streamChat, [], CHAT),
  stream("stream, endpoint only", streamChat, ["endpoint:chat"], ["prompt-processing"]),
  stream("stream, tool not held", streamChat, CHAT, [`tool:${PAY}`]),
  stream("stream, all held", streamChat, [...CHAT, "tool:*"], "OK"),

  admin("keys.whoami", (api) => api.keys.whoami(), [], "OK", "no scopes"),
  admin("keys.whoami", (api) => api.keys.whoami(), ["endpoint:chat"], "OK", "any scope"),
  admin("keys.create", createKey, [], ["admin:keys"]),
  admin("keys.create", createKey, ["admin:audit", "endpoint:chat"], ["admin:keys"]),
  admin("keys.create", createKey, ["Admin:keys", "endpoint:chat"], ["admin:keys"], "case"),
  admin("keys.create", createKey, ["admin:keys", "endpoint:chat"], "OK"),
  admin("keys.derive", deriveKey, ["endpoint:chat"], ["keys:derive"]),
  admin(
    "keys.derive",
    deriveKey,
    ["admin:keys", "endpoint:chat"],
    ["keys:derive"],
    "admin:keys is not keys:derive",
  ),
  admin("keys.derive", deriveKey, ["keys:derive", "endpoint:chat"], "OK"),
  admin("keys.rotate", rotateKey, ["keys:derive"], ["admin:keys"]),
  admin("keys.rotate", rotateKey, ["admin:keys", "endpoint:chat"], "OK"),
  admin("keys.setLimits", setLimits, ["admin:audit"], ["admin:keys"]),
  admin("keys.setLimits", setLimits, ["admin:keys"], "OK"),
  admin("keys.list", (api) => api.keys.list(), ["admin:documents"], ["admin:keys"]),
  admin("keys.list", (api) => api.keys.list(), ["admin:keys"], "OK"),
  admin("keys.show", (api, f) => api.keys.show({ keyId: f.otherKeyId }), ["keys:derive"], ["admin:keys"]),
  admin("keys.show", (api, f) => api.keys.show({ keyId: f.otherKeyId }), ["admin:keys"], "OK"),
  admin(
    "keys.revoke",
    (api, f) => api.keys.revoke({ keyId: f.otherKeyId }),
    ["endpoint:chat"],
    ["admin:keys"],
  ),
  admin("keys.revoke", (api, f) => api.keys.revoke({ keyId: f.otherKeyId }), ["admin:keys"], "OK"),
  admin("documents.add", addDoc, ["db:private-documents"], ["admin:documents"]),
  admin("documents.add", addDoc, ["admin:documents"], ["db:private-documents"]),
  admin("documents.add", addDoc, ["admin:documents", "db:team-notes"], ["db:private-documents"]),
  admin("documents.add", addDoc, ["admin:documents", "db:private-documents"], "OK"),
  admin("documents.add", addDoc, ["admin:documents", "db:*"], "OK", "db:*"),
  admin("documents.list", (api) => api.documents.list({}), ["db:*"], ["admin:documents"]),
  admin("documents.list", (api) => api.documents.list({}), ["admin:documents"], "OK", "no source"),
  admin(
    "documents.list",
    (api) => api.documents.list({ source: "private-documents" }),
    ["admin:documents"],
    ["db:private-documents"],
    "a source",
  ),
  admin(
    "documents.list",
    (api) => api.documents.list({ source: "private-documents" }),
    ["admin:documents", "db:private-documents"],
    "OK",
    "a held source",
  ),
  admin("documents.browse", (api) => api.documents.browse({}), [], "OK", "no source: the held ones"),
  admin(
    "documents.browse",
    (api) => api.documents.browse({ source: "private-documents" }),
    ["admin:documents", "endpoint:summarize-doc"],
    ["db:private-documents"],
    "a source",
  ),
  admin(
    "documents.browse",
    (api) => api.documents.browse({ source: "private-documents" }),
    ["db:private-documents"],
    "OK",
    "a held source",
  ),
  admin("documents.remove", removeDoc, ["admin:documents"], ["db:private-documents"]),
  admin("documents.remove", removeDoc, ["admin:documents", "db:private-documents"], "OK"),
  admin("documents.remove", removeDoc, ["admin:documents", "db:*"], "OK", "db:*"),
  admin("audit.trace", (api) => api.audit.trace({ requestId: "req_abc" }), [], "OK", "no scopes"),
  admin("audit.list", (api) => api.audit.list({}), ["admin:keys"], ["admin:audit"]),
  admin("audit.list", (api) => api.audit.list({}), ["ADMIN:AUDIT"], ["admin:audit"], "case"),
  admin("audit.list", (api) => api.audit.list({}), ["admin:audit"], "OK"),
  admin("audit.export", (api) => api.audit.export({}), ["admin:keys"], ["admin:audit"]),
  admin("audit.export", (api) => api.audit.export({}), ["admin:audit"], "OK"),
  admin("audit.stats", (api) => api.audit.stats({ since }), ["admin:documents"], ["admin:audit"]),
  admin("audit.stats", (api) => api.audit.stats({ since }), ["admin:audit"], "OK"),
  admin("audit.verify", (api) => api.audit.verify({}), ["endpoint:chat"], ["admin:audit"]),
  admin("audit.verify", (api) => api.audit.verify({}), ["admin:audit"], "OK"),
  admin(
    "audit.prune",
    (api) => api.audit.prune({ olderThanSeconds: 86_400 }),
    ["admin:keys"],
    ["admin:audit"],
  ),
  // Deleting evidence is for the local operator only, whatever scopes a key holds.
  admin(
    "audit.prune",
    (api) => api.audit.prune({ olderThanSeconds: 86_400 }),
    ["admin:audit"],
    { code: "FORBIDDEN", reason: "operator_only" },
    "operator only",
  ),
];

describe("scope matrix", () => {
  it("covers every procedure of the router, allowed and refused", () => {
    const procedures = Object.keys(appRouter._def.procedures).sort();
    const procedureOf = (rows: Row[]) => [...new Set(rows.map((r) => r.procedure))].sort();
    // keys.whoami and audit.trace (a key's own records) need no scope, so nothing refuses them;
    // no key may prune the audit log.
    expect(procedureOf(MATRIX.filter((r) => r.expected === "OK"))).toEqual(
      procedures.filter((p) => p !== "audit.prune"),
    );
    expect(procedureOf(MATRIX.filter((r) => Array.isArray(r.expected)))).toEqual(
      procedures.filter((p) => p !== "keys.whoami" && p !== "audit.trace"),
    );
  });

  it.each(MATRIX.map((row) => [`${row.procedure} ${row.what} [${row.grants.join(" ")}]`, row] as const))(
    "%s",
    async (_name, row) => {
      const s = services();
      const f = await fixtures(s);
      const key = await keyHolding(s, row.grants);
      const error = await outcomeOf(row.call(callerFor(s, key.plaintext), f));
      if (row.expected === "OK") {
        expect(error?.message ?? null).toBeNull();
        return;
      }
      const refusal = {
        code: error?.code,
        reason: error?.reason,
        missingScopes: error?.details.missingScopes,
      };
      expect(refusal).toEqual(
        Array.isArray(row.expected)
          ? { code: "FORBIDDEN", reason: "missing_scope", missingScopes: row.expected }
          : { ...row.expected, missingScopes: undefined },
      );
    },
  );
});
