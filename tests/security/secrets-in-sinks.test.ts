// No secret in any sink, whatever the request: a freshly minted key is planted (glued to random
// text) in one place of a real HTTP request — the URL path (plain, percent-encoded, in a batch),
// the query, each header, body fields, document titles and bodies, tool arguments, and the
// model's output (the offline model echoes the question, the summarizer the text) — and then
// every table, the spool and checkpoint files, the captured logs and /metrics are searched for
// the key and its secret: never found. Places that must refuse say with what.
import { randomUUID } from "node:crypto";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { DEFAULT_THROTTLE } from "../../server/auth/throttle.ts";
import { auditTempDir } from "../audit/support.ts";
import { useTestServer } from "../helpers/http.ts";
import { createTestKey, testAuditConfig, useTestServices } from "../helpers/services.ts";
import { allSinks, secretParts, sinksHolding } from "./sinks.ts";

const services = useTestServices(() => {
  const dir = auditTempDir();
  return {
    // Checkpoint files are written every two records, so they are among the sinks searched.
    config: { dataDir: dir, audit: testAuditConfig({ dir, checkpointEvery: 2 }) },
    // Planted keys fail authentication many times from one address; slowing them only costs time.
    throttle: { ...DEFAULT_THROTTLE, slowAfter: 1_000_000, refuseAfter: 1_000_000 },
  };
});
const server = useTestServer(services);

interface Planted {
  path: string;
  method?: "GET" | "POST";
  headers?: Record<string, string>;
  body?: unknown;
  /** Over the streaming transport (chatStream). */
  stream?: boolean;
  /** The refusal this placement must get, if any. */
  refused?: { status: number; reason: string };
}

const chat = (content: string, extra: Record<string, unknown> = {}) => ({
  messages: [{ role: "user", content }],
  ...extra,
});
const percentEncoded = (text: string, prefix = "%") =>
  [...text].map((c) => `${prefix}${c.charCodeAt(0).toString(16).padStart(2, "0")}`).join("");
const keyInUrl = { status: 400, reason: "key_in_url" };
const invalidInput = { status: 400, reason: "invalid_input" };

/** Where a key can be planted; `k` is the key glued to random text, `noise` random words. */
const PLACES: Record<string, (k: string, noise: string) => Planted> = {
  "url path": (k) => ({ path: `/trpc/${k}`, body: {}, refused: keyInUrl }),
  "url path, percent-encoded": (k) => ({ path: `/trpc/${percentEncoded(k)}`, body: {}, refused: keyInUrl }),
  "url path, double-encoded": (k) => ({
    path: `/trpc/${percentEncoded(k, "%25")}`,
    body: {},
    refused: keyInUrl,
  }),
  "url path, in a batch": (k, noise) => ({
    path: `/trpc/chat,${k}?batch=1`,
    body: { 0: chat(noise), 1: {} },
    refused: keyInUrl,
  }),
  "url path, outside /trpc": (k) => ({ path: `/${k}`, method: "GET", refused: keyInUrl }),
  "query value": (k) => ({ path: `/trpc/keys.whoami?note=${k}`, method: "GET", refused: keyInUrl }),
  "query name": (k) => ({ path: `/trpc/keys.whoami?${k}=1`, method: "GET", refused: keyInUrl }),
  "query input": (k) => ({
    path: `/trpc/keys.whoami?input=${encodeURIComponent(JSON.stringify({ note: k }))}`,
    method: "GET",
    refused: keyInUrl,
  }),
  "header x-end-user": (k, noise) => ({
    path: "/trpc/chat",
    headers: { "x-end-user": k },
    body: chat(noise),
    refused: { status: 400, reason: "invalid_end_user" },
  }),
  "header x-request-id": (k, noise) => ({
    path: "/trpc/chat",
    headers: { "x-request-id": k },
    body: chat(noise),
  }),
  "header user-agent": (k, noise) => ({
    path: "/trpc/chat",
    headers: { "user-agent": k },
    body: chat(noise),
  }),
  "header x-forwarded-for": (k, noise) => ({
    path: "/trpc/chat",
    headers: { "x-forwarded-for": k },
    body: chat(noise),
  }),
  "header referer": (k, noise) => ({
    path: "/trpc/chat",
    headers: { referer: `https://example.com/${k}` },
    body: chat(noise),
  }),
  "header cookie": (k, noise) => ({
    path: "/trpc/chat",
    headers: { cookie: `session=${k}` },
    body: chat(noise),
  }),
  "header of its own": (k, noise) => ({ path: "/trpc/chat", headers: { "x-api-key": k }, body: chat(noise) }),
  "header authorization": (k, noise) => ({
    path: "/trpc/chat",
    headers: { authorization: `Bearer ${k}` },
    body: chat(noise),
  }),
  "chat message (echoed in the model output)": (k, noise) => ({
    path: "/trpc/chat",
    body: chat(`${noise} ${k} ${noise}`),
  }),
  "chatStream message (echoed in the stream)": (k, noise) => ({
    path: "/trpc/chatStream?batch=1",
    body: { 0: chat(`${noise} ${k}`) },
    stream: true,
  }),
  "summarized text (extracted into the output)": (k, noise) => ({
    path: "/trpc/summarizeDoc",
    body: { text: `The service key is ${k} today. ${noise}. The key ${k} was rotated.` },
  }),
  "summarize instruction": (k, noise) => ({
    path: "/trpc/summarizeDoc",
    body: { text: `Some text about ${noise}. More text here.`, instruction: `use ${k}` },
  }),
  "tool arguments (the model searches for it)": (k) => ({
    path: "/trpc/chat",
    body: chat(`please search the documents for ${k}`, { tools: ["search-documents"] }),
  }),
  "body field name": (k, noise) => ({
    path: "/trpc/chat",
    body: { ...chat(noise), [k]: 1 },
    refused: invalidInput,
  }),
  "document reference": (k, noise) => ({
    path: "/trpc/chat",
    body: chat(noise, { documents: [{ source: k, id: randomUUID() }] }),
    refused: invalidInput,
  }),
  "document title": (k, noise) => ({
    path: "/trpc/documents.add",
    body: { source: "notes", title: k, body: noise || "body" },
    refused: invalidInput,
  }),
  "document body": (k, noise) => ({
    path: "/trpc/documents.add",
    body: { source: "notes", title: "t", body: `${noise} ${k}` },
    refused: invalidInput,
  }),
  "key name": (k) => ({
    path: "/trpc/keys.create",
    body: { name: k, scopes: ["endpoint:chat"] },
    refused: invalidInput,
  }),
  "key owner": (k) => ({
    path: "/trpc/keys.create",
    body: { name: "n", owner: k, scopes: ["endpoint:chat"] },
    refused: invalidInput,
  }),
  "derived key's end user": (k) => ({
    path: "/trpc/keys.derive",
    body: { scopes: ["endpoint:chat"], endUser: k },
    refused: invalidInput,
  }),
};

const CALLER_SCOPES = [
  "endpoint:chat",
  "endpoint:summarize-doc",
  "prompt-processing",
  "db:*",
  "tool:*",
  "admin:documents",
  "admin:keys",
  "keys:derive",
];

// Text glued to the key: key-format characters and separators, so a word boundary cannot be relied on.
const glue = fc.stringMatching(/^[A-Za-z0-9_.:-]{0,3}$/);
const noise = fc.stringMatching(/^[A-Za-z ]{0,24}$/);

async function send(baseUrl: string, caller: string, planted: Planted) {
  const headers: Record<string, string> = {
    authorization: `Bearer ${caller}`,
    "content-type": "application/json",
    ...(planted.stream ? { "trpc-accept": "application/jsonl" } : {}),
    ...planted.headers,
  };
  const method = planted.method ?? "POST";
  const response = await fetch(`${baseUrl}${planted.path}`, {
    method,
    headers,
    body: method === "POST" ? JSON.stringify(planted.body ?? {}) : undefined,
  });
  const text = await response.text();
  return { status: response.status, text };
}

describe("a key planted anywhere in a request reaches no sink", () => {
  for (const [place, build] of Object.entries(PLACES)) {
    it(place, async () => {
      const s = services();
      const baseUrl = server().url;
      const caller = await createTestKey(s, { scopes: CALLER_SCOPES });
      await fc.assert(
        fc.asyncProperty(glue, glue, noise, async (before, after, words) => {
          const planted = await createTestKey(s, { scopes: ["endpoint:chat"] });
          const request = build(`${before}${planted.plaintext}${after}`, words);
          const answer = await send(baseUrl, caller.plaintext, request);
          if (request.refused) {
            expect(answer.status, answer.text).toBe(request.refused.status);
            expect(answer.text).toContain(`"reason":"${request.refused.reason}"`);
          }
          const leaks = sinksHolding(await allSinks(s, baseUrl), secretParts(planted.plaintext));
          expect(leaks).toEqual([]);
        }),
        { numRuns: 4 },
      );
    });
  }

  it("the spool keeps no secret of a record written during an outage, nor does its replay", async () => {
    const s = services();
    const planted = await createTestKey(s, { scopes: ["endpoint:chat"] });
    const k = planted.plaintext;
    // Every caller-supplied field of a record, as the pipeline spools it when the database is down.
    await s.audit.spool({
      phase: "final",
      requestId: "req_spooled",
      callId: "call_spooled",
      owner: `owner ${k}`,
      endUser: k,
      procedure: `x${k}`,
      outcome: "error",
      reason: "unavailable",
      input: JSON.stringify({ text: `summarize ${k}` }),
      output: `echo ${k}`,
      flags: [k],
      model: k,
      clientAddress: k,
      details: { [k]: k, nested: [{ error: `failed near ${k}` }] },
    });
    const spooled = await allSinks(s, server().url);
    expect(sinksHolding(spooled, secretParts(k))).toEqual([]);
    expect([...spooled.keys()].some((name) => name.startsWith("file spool-"))).toBe(true);
    expect(await s.audit.replaySpool()).toBe(1);
    expect(sinksHolding(await allSinks(s, server().url), secretParts(k))).toEqual([]);
  });
});
