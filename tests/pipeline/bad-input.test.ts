// Bad input to the model-backed procedures: BAD_REQUEST `invalid_input` with field errors, one
// `final` record, no `admitted` record and no model call. Boundary values just inside the
// bounds succeed, so the refusals are the bounds' doing.
import { describe, expect, it } from "vitest";
import { addDocument } from "../../server/documents/store.ts";
import type { RunningServices } from "../../server/services.ts";
import { auditRows, callerFor, useTestServices } from "../helpers/services.ts";
import { type Caller, CountingModel, errorData, expectRefusal, keyHolding, outcomeOf } from "./support.ts";

const services = useTestServices(() => ({ model: new CountingModel() }));

function modelOf(s: RunningServices): CountingModel {
  if (!(s.model instanceof CountingModel)) throw new Error("services were not given the counting model");
  return s.model;
}

const EVERYTHING = ["endpoint:summarize-doc", "endpoint:chat", "prompt-processing", "db:*", "tool:*"];
const ID = "00000000-0000-4000-8000-000000000000";
const user = (content: string) => ({ role: "user" as const, content });
const docs = (n: number) => Array.from({ length: n }, () => ({ source: "notes", id: ID }));

// Raw inputs are what an HTTP client could send; the caller's types would reject them at compile time.
type Loose = Record<string, unknown>;
const summarize = (api: Caller, input: Loose) => api.summarizeDoc(input as never);
const chat = (api: Caller, input: Loose) => api.chat(input as never);

interface Case {
  name: string;
  procedure: "summarizeDoc" | "chat";
  input: Loose;
  /** Where the error is reported: a field of fieldErrors, or "form" for formErrors. */
  at: string;
}

const CASES: Case[] = [
  { name: "text is a number", procedure: "summarizeDoc", input: { text: 42 }, at: "text" },
  {
    name: "maxWords is a string",
    procedure: "summarizeDoc",
    input: { text: "x y z", maxWords: "ten" },
    at: "maxWords",
  },
  {
    name: "maxWords below the minimum",
    procedure: "summarizeDoc",
    input: { text: "x y z", maxWords: 1 },
    at: "maxWords",
  },
  {
    name: "text over 200,000 characters",
    procedure: "summarizeDoc",
    input: { text: "a".repeat(200_001) },
    at: "text",
  },
  { name: "empty text", procedure: "summarizeDoc", input: { text: "" }, at: "text" },
  {
    name: "both text and document",
    procedure: "summarizeDoc",
    input: { text: "x", document: { source: "notes", id: ID } },
    at: "text",
  },
  { name: "neither text nor document", procedure: "summarizeDoc", input: {}, at: "text" },
  {
    name: "document id not a uuid",
    procedure: "summarizeDoc",
    input: { document: { source: "notes", id: "1" } },
    at: "document",
  },
  {
    name: "document source `*`",
    procedure: "summarizeDoc",
    input: { document: { source: "*", id: ID } },
    at: "document",
  },
  {
    name: "unknown top-level field",
    procedure: "summarizeDoc",
    input: { text: "x", model: "gpt-4" },
    at: "form",
  },
  {
    name: "unknown field in document",
    procedure: "summarizeDoc",
    input: { document: { source: "notes", id: ID, path: "/etc" } },
    at: "document",
  },
  { name: "messages is a string", procedure: "chat", input: { messages: "hello" }, at: "messages" },
  { name: "empty messages", procedure: "chat", input: { messages: [] }, at: "messages" },
  { name: "no messages", procedure: "chat", input: {}, at: "messages" },
  {
    name: "a system message",
    procedure: "chat",
    input: { messages: [{ role: "system", content: "obey" }] },
    at: "messages",
  },
  {
    name: "only assistant messages",
    procedure: "chat",
    input: { messages: [{ role: "assistant", content: "x" }] },
    at: "messages",
  },
  { name: "empty message content", procedure: "chat", input: { messages: [user("")] }, at: "messages" },
  {
    name: "message over 32,000 characters",
    procedure: "chat",
    input: { messages: [user("b".repeat(32_001))] },
    at: "messages",
  },
  {
    name: "51 messages",
    procedure: "chat",
    input: { messages: Array.from({ length: 51 }, (_, i) => user(`m${i}`)) },
    at: "messages",
  },
  {
    name: "11 documents",
    procedure: "chat",
    input: { messages: [user("hi")], documents: docs(11) },
    at: "documents",
  },
  {
    name: "tool name with capitals",
    procedure: "chat",
    input: { messages: [user("hi")], tools: ["Payments"] },
    at: "tools",
  },
  {
    name: "unknown top-level field",
    procedure: "chat",
    input: { messages: [user("hi")], temperature: 2 },
    at: "form",
  },
  {
    name: "unknown field in a message",
    procedure: "chat",
    input: { messages: [{ role: "user", content: "hi", name: "root" }] },
    at: "messages",
  },
];

describe("bad input is refused before admission and the model", () => {
  it.each(CASES.map((c) => [`${c.procedure}: ${c.name}`, c] as const))("%s", async (_name, c) => {
    const s = services();
    const key = await keyHolding(s, EVERYTHING);
    const api = callerFor(s, key.plaintext);
    const call = c.procedure === "summarizeDoc" ? summarize(api, c.input) : chat(api, c.input);
    const error = await expectRefusal(call, "BAD_REQUEST", "invalid_input");

    const data = errorData(error, c.procedure);
    expect(data.reason).toBe("invalid_input");
    if (c.at === "form") {
      expect(data.formErrors?.length ?? 0).toBeGreaterThan(0);
    } else {
      expect(Object.keys(data.fieldErrors ?? {})).toContain(c.at);
    }

    expect(modelOf(s).calls).toBe(0);
    const rows = await auditRows(s.database);
    expect(rows.filter((r) => r.phase === "admitted")).toEqual([]);
    const finals = rows.filter((r) => r.phase === "final");
    expect(finals.map((r) => [r.procedure, r.outcome, r.reason, r.keyId])).toEqual([
      [c.procedure, "denied", "invalid_input", key.keyId],
    ]);
  });
});

describe("values just inside the bounds are accepted", () => {
  it("200,000 characters of text, 50 messages of 32,000 characters, 10 documents", async () => {
    const s = services();
    const key = await keyHolding(s, EVERYTHING);
    const api = callerFor(s, key.plaintext);
    // Ten distinct documents: a repeated reference is refused (each document is sent once).
    const docs = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        addDocument(s.database.db, { source: "notes", title: `N${i}`, body: "A short note." }),
      ),
    );
    const inside = [
      () => api.summarizeDoc({ text: "word ".repeat(40_000) }),
      () =>
        api.chat({
          messages: Array.from({ length: 50 }, (_, i) => user(`${i} `.padEnd(32_000, "c"))),
        }),
      () =>
        api.chat({
          messages: [user("hi")],
          documents: docs.map((doc) => ({ source: doc.source, id: doc.id })),
        }),
    ];
    for (const call of inside) expect((await outcomeOf(call()))?.message ?? null).toBeNull();
    expect(modelOf(s).calls).toBe(3);
  });
});
