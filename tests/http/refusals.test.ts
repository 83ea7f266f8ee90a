// Requests refused at the HTTP layer or by tRPC's own routing: each answered with the normal
// error envelope (reason, request id equal to the x-request-id header, nothing internal) and
// audited with one final record.
import { request as httpRequest } from "node:http";
import { describe, expect, it } from "vitest";
import { useTestServer } from "../helpers/http.ts";
import { auditRows, createTestKey, dumpAllTables, useTestServices } from "../helpers/services.ts";
import { bearer, expectErrorResponse, type HttpResult, send } from "./http-helpers.ts";

const services = useTestServices();
const testServer = useTestServer(services);

const MIB = 1024 * 1024;

async function summarizeKey() {
  return createTestKey(services(), { scopes: ["endpoint:summarize-doc"] });
}

async function finalsFor(result: HttpResult) {
  const s = services();
  await s.audit.drain();
  const requestId = result.headers.get("x-request-id");
  return (await auditRows(s.database)).filter((r) => r.requestId === requestId && r.phase === "final");
}

async function expectOneFinal(result: HttpResult, reason: string) {
  const finals = await finalsFor(result);
  expect(finals.map((r) => [r.outcome, r.reason])).toEqual([["denied", reason]]);
  return finals[0];
}

function postSummarize(key: string, body: BodyInit, headers: Record<string, string> = {}) {
  return send(`${testServer().url}/trpc/summarizeDoc`, {
    method: "POST",
    headers: { ...bearer(key), ...headers },
    body,
    ...(body instanceof ReadableStream ? { duplex: "half" } : {}),
  } as RequestInit);
}

/** A body streamed in 64 KiB chunks, so fetch sends it chunked with no content-length. */
function chunkedBody(totalBytes: number): ReadableStream<Uint8Array> {
  let sent = 0;
  const chunk = new TextEncoder().encode("a".repeat(64 * 1024));
  return new ReadableStream({
    pull(controller) {
      if (sent >= totalBytes) return controller.close();
      const size = Math.min(chunk.length, totalBytes - sent);
      controller.enqueue(chunk.subarray(0, size));
      sent += size;
    },
  });
}

describe("body bounds", () => {
  it("refuses a body over 1 MiB declared by content-length with 413 payload_too_large", async () => {
    const key = await summarizeKey();
    const body = JSON.stringify({ text: "a".repeat(MIB + 10) });
    const result = await postSummarize(key.plaintext, body);
    const error = expectErrorResponse(result, 413, "payload_too_large");
    expect(error.data.code).toBe("PAYLOAD_TOO_LARGE");
    await expectOneFinal(result, "payload_too_large");
  });

  it("refuses a chunked body that grows past 1 MiB with no content-length", async () => {
    const key = await summarizeKey();
    const result = await postSummarize(key.plaintext, chunkedBody(MIB + 64 * 1024));
    expectErrorResponse(result, 413, "payload_too_large");
    await expectOneFinal(result, "payload_too_large");
  });

  it("reads a chunked body under the bound to its end (then judges its content)", async () => {
    const key = await summarizeKey();
    // Not JSON: refused for its content, which proves it was read whole, not refused for size.
    const result = await postSummarize(key.plaintext, chunkedBody(200 * 1024));
    expectErrorResponse(result, 400, "invalid_json");
  });
});

describe("body content", () => {
  it("refuses a non-JSON content type with 415", async () => {
    const key = await summarizeKey();
    const result = await postSummarize(key.plaintext, JSON.stringify({ text: "hello there" }), {
      "content-type": "text/plain",
    });
    const error = expectErrorResponse(result, 415, "unsupported_media_type");
    expect(error.data.code).toBe("UNSUPPORTED_MEDIA_TYPE");
    await expectOneFinal(result, "unsupported_media_type");
  });

  it("refuses invalid JSON with 400 invalid_json (PARSE_ERROR) and a final record", async () => {
    const key = await summarizeKey();
    const result = await postSummarize(key.plaintext, '{"text": "unterminated');
    const error = expectErrorResponse(result, 400, "invalid_json");
    expect(error.data.code).toBe("PARSE_ERROR");
    // The parser's own message ("Unterminated string…") is not passed on.
    expect(error.message).not.toMatch(/position|unterminated/i);
    await expectOneFinal(result, "invalid_json");
  });

  it("refuses an unparseable batch body once for the request, not once per call", async () => {
    const key = await summarizeKey();
    const result = await send(`${testServer().url}/trpc/summarizeDoc,summarizeDoc?batch=1`, {
      method: "POST",
      headers: bearer(key.plaintext),
      body: '{"0": ',
    });
    expectErrorResponse(result, 400, "invalid_json");
    await expectOneFinal(result, "invalid_json");
  });

  it("refuses unparseable JSON in a GET query's input parameter", async () => {
    const key = await summarizeKey();
    const result = await send(`${testServer().url}/trpc/keys.whoami?input=${encodeURIComponent("{nope")}`, {
      headers: { authorization: `Bearer ${key.plaintext}` },
    });
    expectErrorResponse(result, 400, "invalid_json");
    await expectOneFinal(result, "invalid_json");
  });

  it("refuses a body that is not valid UTF-8 with 400", async () => {
    const key = await summarizeKey();
    const bytes = Buffer.concat([
      Buffer.from('{"text":"'),
      Buffer.from([0xc3, 0x28, 0xff]),
      Buffer.from('"}'),
    ]);
    const result = await postSummarize(key.plaintext, bytes);
    expectErrorResponse(result, 400, "invalid_json");
    await expectOneFinal(result, "invalid_json");
  });
});

describe("keys in the URL", () => {
  for (const param of ["key", "api_key"]) {
    it(`refuses ?${param}=<key> with 400 key_in_url and stores the key nowhere`, async () => {
      const s = services();
      const key = await summarizeKey();
      const input = encodeURIComponent(JSON.stringify({}));
      const result = await send(
        `${testServer().url}/trpc/keys.whoami?input=${input}&${param}=${key.plaintext}`,
      );
      expectErrorResponse(result, 400, "key_in_url");
      expect(result.text).not.toContain(key.plaintext);
      await expectOneFinal(result, "key_in_url");
      const tables = await dumpAllTables(s.database);
      expect(tables).not.toContain(key.plaintext);
      expect(tables).not.toContain(key.plaintext.slice(20, 52));
      expect(s.logLines.join("\n")).not.toContain(key.plaintext.slice(20, 52));
    });
  }

  it("refuses a key-shaped value under any parameter name", async () => {
    const key = await summarizeKey();
    const result = await send(`${testServer().url}/trpc/keys.whoami?x=${key.plaintext}`);
    expectErrorResponse(result, 400, "key_in_url");
    expect(result.text).not.toContain(key.plaintext);
  });
});

/** Sends a request with raw node:http so header size is ours to choose. */
function rawRequest(url: string, headers: Record<string, string>): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method: "GET", headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => {
        const text = Buffer.concat(chunks).toString("utf8");
        const responseHeaders = new Headers();
        for (const [name, value] of Object.entries(res.headers)) {
          if (typeof value === "string") responseHeaders.set(name, value);
        }
        let json: unknown = null;
        try {
          json = JSON.parse(text);
        } catch {}
        resolve({ status: res.statusCode ?? 0, headers: responseHeaders, text, json });
      });
    });
    req.on("error", reject);
    req.end();
  });
}

describe("header bounds", () => {
  it("answers headers over 16 KiB with 431 and the JSON envelope, audited", async () => {
    const result = await rawRequest(`${testServer().url}/trpc/keys.whoami`, {
      "x-padding": "p".repeat(17 * 1024),
    });
    const error = expectErrorResponse(result, 431, "headers_too_large");
    expect(error.data.httpStatus).toBe(431);
    await expectOneFinal(result, "headers_too_large");
  });
});

describe("routing", () => {
  it("answers an unknown procedure with 404 not_found and a final record naming it", async () => {
    const key = await summarizeKey();
    const result = await send(`${testServer().url}/trpc/noSuchProcedure`, {
      method: "POST",
      headers: bearer(key.plaintext),
      body: "{}",
    });
    expectErrorResponse(result, 404, "not_found");
    const final = await expectOneFinal(result, "not_found");
    expect(final?.procedure).toBe("noSuchProcedure");
    expect(final?.keyId).toBe(key.keyId);
  });

  it("answers a path outside /trpc with 404 not_found", async () => {
    const result = await send(`${testServer().url}/nothing-here`);
    expectErrorResponse(result, 404, "not_found");
    await expectOneFinal(result, "not_found");
  });

  it("answers GET on a mutation with 405 method_not_supported and a final record", async () => {
    const key = await summarizeKey();
    const input = encodeURIComponent(JSON.stringify({ text: "hello world again" }));
    const result = await send(`${testServer().url}/trpc/summarizeDoc?input=${input}`, {
      headers: { authorization: `Bearer ${key.plaintext}` },
    });
    const error = expectErrorResponse(result, 405, "method_not_supported");
    expect(error.data.code).toBe("METHOD_NOT_SUPPORTED");
    await expectOneFinal(result, "method_not_supported");
    const rows = await auditRows(services().database);
    expect(rows.some((r) => r.phase === "admitted")).toBe(false);
  });

  it("answers a malformed percent-encoding in the path with 404, not a 500", async () => {
    const result = await send(`${testServer().url}/trpc/summarize%E0Doc`, { method: "POST", body: "{}" });
    expectErrorResponse(result, 404, "not_found");
    await expectOneFinal(result, "not_found");
  });
});

describe("pipeline errors over HTTP", () => {
  it("answers a missing key with 401 missing_key and an invalid input with 400 field errors", async () => {
    const noKey = await send(`${testServer().url}/trpc/summarizeDoc`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ text: "hello" }),
    });
    expectErrorResponse(noKey, 401, "missing_key");
    expect(noKey.headers.get("retry-after")).toBeNull();

    const key = await summarizeKey();
    const bad = await postSummarize(key.plaintext, JSON.stringify({ text: 42, extra: true }));
    const error = expectErrorResponse(bad, 400, "invalid_input");
    expect(error.data.fieldErrors).toHaveProperty("text");
    await expectOneFinal(bad, "invalid_input");
  });
});
