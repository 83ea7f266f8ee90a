// The audited client address: the socket peer by default; behind a trusted proxy, the
// right-most X-Forwarded-For hop that is not itself trusted (left-most hops are caller-written).
import { BlockList } from "node:net";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { startTestServer, type TestServer } from "../helpers/http.ts";
import { auditRows, createTestKey, type TestServices, useTestServices } from "../helpers/services.ts";
import { bearer, send } from "./http-helpers.ts";

function trusting(...cidrs: Array<[string, number]>): BlockList {
  const list = new BlockList();
  for (const [address, prefix] of cidrs) list.addSubnet(address, prefix, "ipv4");
  return list;
}

/** Makes one summarizeDoc call with `forwardedFor` and returns the addresses its records hold. */
async function recordedAddresses(s: TestServices, server: TestServer, forwardedFor?: string) {
  const key = await createTestKey(s, { scopes: ["endpoint:summarize-doc"] });
  const result = await send(`${server.url}/trpc/summarizeDoc`, {
    method: "POST",
    headers: { ...bearer(key.plaintext), ...(forwardedFor ? { "x-forwarded-for": forwardedFor } : {}) },
    body: JSON.stringify({ text: "Addresses are recorded in the audit log for each call." }),
  });
  expect(result.status, result.text).toBe(200);
  await s.audit.drain();
  const rows = (await auditRows(s.database)).filter(
    (r) => r.requestId === result.headers.get("x-request-id"),
  );
  expect(rows.map((r) => r.phase).sort()).toEqual(["admitted", "final"]);
  return [...new Set(rows.map((r) => r.clientAddress))];
}

function withServer(services: () => TestServices) {
  const state: { server: TestServer | null } = { server: null };
  beforeEach(async () => {
    state.server = await startTestServer(services());
  });
  afterEach(async () => {
    await state.server?.close();
  });
  return () => {
    if (!state.server) throw new Error("server starts in beforeEach");
    return state.server;
  };
}

describe("without trusted proxies", () => {
  const services = useTestServices();
  const server = withServer(services);

  it("records the socket address and ignores X-Forwarded-For", async () => {
    expect(await recordedAddresses(services(), server())).toEqual(["127.0.0.1"]);
    expect(await recordedAddresses(services(), server(), "198.51.100.9")).toEqual(["127.0.0.1"]);
  });
});

describe("behind a trusted proxy (127.0.0.1/32)", () => {
  const services = useTestServices({
    config: { trustedProxies: trusting(["127.0.0.1", 32], ["10.0.0.0", 8]) },
  });
  const server = withServer(services);

  it("records the right-most untrusted hop, not the caller-written left-most one", async () => {
    const addresses = await recordedAddresses(services(), server(), "203.0.113.66, 198.51.100.9, 10.1.2.3");
    expect(addresses).toEqual(["198.51.100.9"]);
  });

  it("records the single forwarded hop", async () => {
    expect(await recordedAddresses(services(), server(), "198.51.100.20")).toEqual(["198.51.100.20"]);
  });

  it("falls back to the socket address without a usable X-Forwarded-For", async () => {
    expect(await recordedAddresses(services(), server())).toEqual(["127.0.0.1"]);
    expect(await recordedAddresses(services(), server(), "not-an-address")).toEqual(["127.0.0.1"]);
  });
});
