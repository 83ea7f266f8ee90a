// Refusals before admission cost nothing: a chatStream call without the streaming transport is
// refused 415 before tRPC runs it (no use of a one-time key, no `admitted` record, one final);
// a connection reset is never recorded as `invalid_json` (an idle or half-sent head is no
// request at all, a body cut off is `client_closed`); a request that does not arrive in time is
// answered 408 `request_timeout`. Every `admitted` record keeps exactly one `final`.
import { connect, type Socket } from "node:net";
import { describe, expect, it } from "vitest";
import { startTestServer, useTestServer } from "../helpers/http.ts";
import { auditRows, callerFor, createTestKey, useTestServices } from "../helpers/services.ts";
import { bearer, expectErrorResponse, send } from "./http-helpers.ts";

const services = useTestServices();
const testServer = useTestServer(services);

const CHAT = { messages: [{ role: "user", content: "hello there" }] };

async function rowsOf(requestId: string | null) {
  const s = services();
  await s.audit.drain();
  return (await auditRows(s.database)).filter((r) => r.requestId === requestId);
}

/** Every call with an `admitted` record has exactly one `final`. */
async function expectAdmittedHaveOneFinal() {
  const rows = await auditRows(services().database);
  const admitted = rows.filter((r) => r.phase === "admitted").map((r) => r.callId);
  for (const callId of admitted) {
    expect(rows.filter((r) => r.callId === callId && r.phase === "final")).toHaveLength(1);
  }
}

function portOf(url: string): number {
  return Number(new URL(url).port);
}

function opened(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, "127.0.0.1", () => resolve(socket));
    socket.on("error", reject);
  });
}

/** What arrives on the socket until it closes (or `ms` pass). */
function received(socket: Socket, ms = 3000): Promise<string> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const done = () => resolve(Buffer.concat(chunks).toString("utf8"));
    socket.on("data", (chunk: Buffer) => chunks.push(chunk));
    socket.on("close", done);
    socket.on("error", () => {});
    setTimeout(done, ms);
  });
}

async function until<T>(probe: () => Promise<T | undefined>, ms = 3000): Promise<T | undefined> {
  const end = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value !== undefined || Date.now() > end) return value;
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe("a streamed procedure without the streaming transport", () => {
  for (const path of ["chatStream", "chatStream?batch=1", "chat,chatStream?batch=1"]) {
    it(`/trpc/${path} is refused 415 before admission: nothing charged, no admitted record`, async () => {
      const s = services();
      const key = await createTestKey(s, { scopes: ["endpoint:chat", "prompt-processing"], maxUses: 1 });
      const body = path.includes("batch") ? { 0: CHAT, 1: CHAT } : CHAT;
      const result = await send(`${testServer().url}/trpc/${path}`, {
        method: "POST",
        headers: bearer(key.plaintext),
        body: JSON.stringify(body),
      });
      expectErrorResponse(result, 415, "unsupported_media_type");
      const rows = await rowsOf(result.headers.get("x-request-id"));
      expect(rows.map((r) => [r.phase, r.outcome, r.reason])).toEqual([
        ["final", "denied", "unsupported_media_type"],
      ]);
      // The one-time key still has its use: whoami (which spends none) sees 0, and a streamed call works.
      const me = await callerFor(s, key.plaintext).keys.whoami();
      expect(me.usage.uses).toBe(0);
      const streamed = await send(`${testServer().url}/trpc/chatStream?batch=1`, {
        method: "POST",
        headers: { ...bearer(key.plaintext), "trpc-accept": "application/jsonl" },
        body: JSON.stringify({ 0: CHAT }),
      });
      expect(streamed.status).toBe(200);
      expect(streamed.text).toContain('"done"');
      await expectAdmittedHaveOneFinal();
    });
  }

  it("the streaming transport may also be asked for with accept: application/jsonl", async () => {
    const key = await createTestKey(services(), { scopes: ["endpoint:chat", "prompt-processing"] });
    const streamed = await send(`${testServer().url}/trpc/chatStream?batch=1`, {
      method: "POST",
      headers: { ...bearer(key.plaintext), accept: "application/jsonl" },
      body: JSON.stringify({ 0: CHAT }),
    });
    expect(streamed.status).toBe(200);
    expect(streamed.text).toContain('"done"');
    await expectAdmittedHaveOneFinal();
  });
});

describe("connections that end without a request", () => {
  it("an idle keep-alive connection reset by its client writes nothing", async () => {
    const s = services();
    const port = portOf(testServer().url);
    const socket = await opened(port);
    const answer = received(socket, 1000);
    socket.write("GET /healthz HTTP/1.1\r\nhost: x\r\nconnection: keep-alive\r\n\r\n");
    await until(async () => ((await Promise.race([answer, Promise.resolve("")])) ? true : undefined), 500);
    await new Promise((r) => setTimeout(r, 100));
    const before = (await auditRows(s.database)).length;
    socket.resetAndDestroy();
    const silent = await opened(port);
    silent.resetAndDestroy();
    const halfHead = await opened(port);
    halfHead.write("POST /trpc/chat HTTP/1.1\r\nhost: x\r\n");
    await new Promise((r) => setTimeout(r, 100));
    halfHead.resetAndDestroy();
    await new Promise((r) => setTimeout(r, 300));
    await s.audit.drain();
    const rows = await auditRows(s.database);
    expect(rows.length).toBe(before);
    expect(rows.filter((r) => r.reason === "invalid_json")).toEqual([]);
  });

  it("a body cut off by a reset is one final client_closed, never invalid_json, nothing admitted", async () => {
    const s = services();
    const key = await createTestKey(s, { scopes: ["endpoint:chat", "prompt-processing"], maxUses: 1 });
    const socket = await opened(portOf(testServer().url));
    socket.on("error", () => {});
    socket.write(
      `POST /trpc/chat HTTP/1.1\r\nhost: x\r\nauthorization: Bearer ${key.plaintext}\r\ncontent-type: application/json\r\ncontent-length: 500\r\n\r\n{"messages":`,
    );
    await new Promise((r) => setTimeout(r, 200));
    socket.resetAndDestroy();
    const finals = await until(async () => {
      await s.audit.drain();
      const rows = (await auditRows(s.database)).filter((r) => r.procedure === "chat");
      return rows.length > 0 ? rows : undefined;
    });
    expect(finals?.map((r) => [r.phase, r.outcome, r.reason])).toEqual([
      ["final", "denied", "client_closed"],
    ]);
    expect((await auditRows(s.database)).filter((r) => r.reason === "invalid_json")).toEqual([]);
    expect((await callerFor(s, key.plaintext).keys.whoami()).usage.uses).toBe(0);
  });
});

describe("requests that do not arrive in time", () => {
  it("a stalled head or body is answered 408 request_timeout and recorded once as such", async () => {
    const s = services();
    const server = await startTestServer(s, { requestTimeoutMs: 400 });
    try {
      const port = portOf(server.url);
      const head = await opened(port);
      const headAnswer = received(head);
      head.write("POST /trpc/chat HTTP/1.1\r\nhost: x\r\n");
      const body = await opened(port);
      const bodyAnswer = received(body);
      body.write(
        "POST /trpc/chat HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 500\r\n\r\n{",
      );
      for (const answer of [await headAnswer, await bodyAnswer]) {
        expect(answer).toMatch(/^HTTP\/1\.1 408 /);
        expect(answer).toContain('"reason":"request_timeout"');
      }
      const timeouts = await until(async () => {
        await s.audit.drain();
        const rows = (await auditRows(s.database)).filter((r) => r.reason === "request_timeout");
        return rows.length >= 2 ? rows : undefined;
      });
      await new Promise((r) => setTimeout(r, 200));
      await s.audit.drain();
      const rows = await auditRows(s.database);
      expect(timeouts).toHaveLength(2);
      expect(rows.filter((r) => r.reason === "request_timeout")).toHaveLength(2);
      expect(rows.filter((r) => r.reason === "invalid_json" || r.reason === "client_closed")).toEqual([]);
      expect(rows.filter((r) => r.phase === "admitted")).toEqual([]);
    } finally {
      await server.close();
    }
  });

  it("a stalled body at the OpenAI door is recorded once as request_timeout, not client_closed", async () => {
    const s = services();
    const server = await startTestServer(s, { requestTimeoutMs: 400 });
    try {
      const body = await opened(portOf(server.url));
      const answer = received(body);
      body.write(
        "POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 500\r\n\r\n{",
      );
      expect(await answer).toMatch(/^HTTP\/1\.1 408 /);
      const timeouts = await until(async () => {
        await s.audit.drain();
        const rows = (await auditRows(s.database)).filter((r) => r.reason === "request_timeout");
        return rows.length >= 1 ? rows : undefined;
      });
      await new Promise((r) => setTimeout(r, 200));
      await s.audit.drain();
      const rows = await auditRows(s.database);
      expect(timeouts?.map((r) => r.procedure)).toEqual(["chat"]);
      expect(rows.filter((r) => r.reason === "invalid_json" || r.reason === "client_closed")).toEqual([]);
    } finally {
      await server.close();
    }
  });
});
