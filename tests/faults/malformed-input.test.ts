// Fault drill: a corpus of malformed requests over raw HTTP against a real server. Each gets a
// 4xx with the JSON envelope and a reason, within a deadline; nothing is half-written (no
// admitted record without its final, no key charged); and the server still answers /healthz.
import { sql } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { useTestServer } from "../helpers/http.ts";
import { auditRows, createTestKey, useTestServices } from "../helpers/services.ts";
import { type RawRequest, type RawResponse, rawRequest } from "./raw-http.ts";

const services = useTestServices();
const testServer = useTestServer(services);

const MIB = 1024 * 1024;
const port = () => Number(new URL(testServer().url).port);

interface Case {
  name: string;
  status: number;
  reason: string;
  request: (key: string) => RawRequest;
}

function post(
  key: string,
  body: RawRequest["body"],
  extra: Record<string, string> = {},
  path = "/trpc/summarizeDoc",
): RawRequest {
  const length: Record<string, string> =
    typeof body === "function" || body === undefined
      ? {}
      : { "content-length": String(Buffer.byteLength(body)) };
  return {
    method: "POST",
    path,
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json", ...length, ...extra },
    body,
  };
}

/** 50 MB, declared up front, sent in 1 MiB chunks for as long as the server reads them. */
function* fiftyMegabytes(): Iterable<Buffer> {
  const chunk = Buffer.alloc(MIB, "a");
  yield Buffer.from('{"text":"');
  for (let i = 0; i < 50; i++) yield chunk;
}

const nested = (depth: number) => `{"text":${"[".repeat(depth)}${"]".repeat(depth)}}`;

const CASES: Case[] = [
  {
    name: "invalid JSON",
    status: 400,
    reason: "invalid_json",
    request: (k) => post(k, '{"text": "unterminated'),
  },
  {
    name: "wrong content type",
    status: 415,
    reason: "unsupported_media_type",
    request: (k) => post(k, '{"text":"hello there"}', { "content-type": "text/plain" }),
  },
  {
    name: "a 50 MB body (declared length)",
    status: 413,
    reason: "payload_too_large",
    request: (k) => ({ ...post(k, fiftyMegabytes, { "content-length": String(50 * MIB + 9) }) }),
  },
  {
    name: "a 50 MB body (chunked, no length)",
    status: 413,
    reason: "payload_too_large",
    request: (k) => post(k, () => chunked(fiftyMegabytes()), { "transfer-encoding": "chunked" }),
  },
  {
    // 10,000 procedure names make a request line past the 16 KiB header bound.
    name: "a 10,000-call batch",
    status: 431,
    reason: "headers_too_large",
    request: (k) =>
      post(k, "{}", {}, `/trpc/${Array.from({ length: 10_000 }, () => "summarizeDoc").join(",")}?batch=1`),
  },
  {
    name: "a 1,000-call batch (fits the header bound)",
    status: 400,
    reason: "batch_too_large",
    request: (k) =>
      post(k, "{}", {}, `/trpc/${Array.from({ length: 1_000 }, () => "keys.whoami").join(",")}?batch=1`),
  },
  {
    name: "invalid UTF-8",
    status: 400,
    reason: "invalid_json",
    request: (k) =>
      post(k, Buffer.concat([Buffer.from('{"text":"'), Buffer.from([0xc3, 0x28, 0xff]), Buffer.from('"}')])),
  },
  {
    // A lone surrogate encoded as UTF-8 bytes (CESU style) is not valid UTF-8.
    name: "an unpaired surrogate as raw bytes",
    status: 400,
    reason: "invalid_json",
    request: (k) =>
      post(
        k,
        Buffer.concat([Buffer.from('{"text":"ab'), Buffer.from([0xed, 0xa0, 0x80]), Buffer.from('cd"}')]),
      ),
  },
  {
    name: "a raw NUL byte inside a JSON string",
    status: 400,
    reason: "invalid_json",
    request: (k) => post(k, Buffer.from('{"text":"a\u0000b"}')),
  },
  {
    name: "deeply nested JSON (100,000 levels)",
    status: 400,
    reason: "invalid_input",
    request: (k) => post(k, nested(100_000)),
  },
  {
    name: "deeply nested JSON past the body bound (1,000,000 levels)",
    status: 413,
    reason: "payload_too_large",
    request: (k) => post(k, nested(1_000_000)),
  },
  {
    name: "huge headers (64 KiB)",
    status: 431,
    reason: "headers_too_large",
    request: (k) => post(k, '{"text":"hello there"}', { "x-padding": "p".repeat(64 * 1024) }),
  },
  {
    name: "a key in the query string",
    status: 400,
    reason: "key_in_url",
    request: (k) => ({
      method: "GET",
      path: `/trpc/keys.whoami?api_key=${encodeURIComponent(k)}`,
      headers: {},
    }),
  },
];

function* chunked(chunks: Iterable<Buffer>): Iterable<Buffer> {
  for (const chunk of chunks) {
    yield Buffer.from(`${chunk.length.toString(16)}\r\n`);
    yield chunk;
    yield Buffer.from("\r\n");
  }
  yield Buffer.from("0\r\n\r\n");
}

function expectRefusal(response: RawResponse, status: number, reason: string) {
  expect(response.status, response.body.slice(0, 300)).toBe(status);
  expect(response.headers["content-type"]).toMatch(/^application\/json/);
  const error = (response.json as { error?: { data?: { reason?: string; requestId?: string } } } | null)
    ?.error;
  expect(error?.data?.reason).toBe(reason);
  expect(error?.data?.requestId).toMatch(/\S/);
}

describe("malformed requests over raw HTTP", () => {
  for (const c of CASES) {
    it(`${c.name}: ${c.status} ${c.reason}, nothing half-written, server still healthy`, async () => {
      const s = services();
      const key = await createTestKey(s, { scopes: ["endpoint:summarize-doc", "prompt-processing"] });
      const response = await rawRequest(port(), { ...c.request(key.plaintext), timeoutMs: 15_000 });
      expectRefusal(response, c.status, c.reason);

      await s.audit.drain();
      const rows = await auditRows(s.database);
      const finals = new Set(rows.filter((r) => r.phase === "final").map((r) => r.callId));
      const admittedWithoutFinal = rows.filter((r) => r.phase === "admitted" && !finals.has(r.callId));
      expect(admittedWithoutFinal).toEqual([]);
      expect(rows.filter((r) => r.phase === "admitted")).toEqual([]);
      const [charged] = await s.database.rows<{ uses: string | number; tokens: string | number }>(
        sql`select coalesce(sum(uses), 0) as uses, coalesce(sum(tokens_used), 0) as tokens from key_limits
        where id in (select limit_id from api_keys)`,
      );
      expect(Number(charged?.uses)).toBe(0);
      expect(Number(charged?.tokens)).toBe(0);

      const health = await rawRequest(port(), { method: "GET", path: "/healthz" });
      expect(health.status).toBe(200);
    });
  }

  it("a JSON-escaped unpaired surrogate and an escaped NUL are ordinary input: answered, audited once, never a 5xx", async () => {
    const s = services();
    const key = await createTestKey(s, { scopes: ["endpoint:summarize-doc"] });
    for (const text of ["\\ud800 lone high surrogate here.", "a NUL \\u0000 in the middle."]) {
      const response = await rawRequest(port(), post(key.plaintext, `{"text":"${text}"}`));
      expect(response.status, response.body.slice(0, 300)).toBeLessThan(500);
      const requestId = response.headers["x-request-id"];
      await s.audit.drain();
      const finals = (await auditRows(s.database)).filter(
        (r) => r.requestId === requestId && r.phase === "final",
      );
      expect(finals).toHaveLength(1);
    }
    const health = await rawRequest(port(), { method: "GET", path: "/healthz" });
    expect(health.status).toBe(200);
  });
});
