// The demo page's HTTP routes (no browser needed): the assets built by `npm run build:demo`
// (the server never bundles), security headers on every asset, and /demo-key handed only to a
// same-origin browser request on this machine, audited by key id.
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { request as httpRequest } from "node:http";
import type { AddressInfo } from "node:net";
import { networkInterfaces, tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { createDemoPage, DEMO_PAGE_CSP, defaultAssetsDir, isLoopback } from "../../server/http/demo-page.ts";
import { createHttpServer } from "../../server/http/server.ts";
import { startTestServer, type TestServer } from "../helpers/http.ts";
import { auditRows, createTestKey, useTestServices } from "../helpers/services.ts";
import { missingPrerequisite } from "../helpers/skip.ts";

const services = useTestServices();
const open: Array<{ close(): Promise<void> }> = [];

afterEach(async () => {
  await Promise.all(open.splice(0).map((s) => s.close()));
});

async function demoKeyFile() {
  const created = await createTestKey(services(), {
    name: "demo",
    env: "test",
    scopes: ["endpoint:chat", "prompt-processing"],
    ttlSeconds: 600,
  });
  const path = join(mkdtempSync(join(tmpdir(), "scopegate-demo-")), "demo-key");
  writeFileSync(path, `${created.plaintext}\n`, { mode: 0o600 });
  return { ...created, path };
}

async function pageServer(demoKeyPath: string | null): Promise<TestServer> {
  const page = await createDemoPage(services(), { demoKeyPath });
  const server = await startTestServer(services(), { extraRoutes: page.handle });
  open.push(server);
  return server;
}

interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** A raw request, so Host and the other headers fetch would fix can be set exactly. */
function raw(url: string, headers: Record<string, string>, method = "GET"): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method, headers }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => {
        body += chunk;
      });
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on("error", reject);
    req.end();
  });
}

function browserHeaders(url: string): Record<string, string> {
  return { host: new URL(url).host, "x-scopegate-demo": "1", "sec-fetch-site": "same-origin" };
}

describe("demo page assets", () => {
  it.each([
    ["/", "text/html"],
    ["/app.js", "text/javascript"],
    ["/app.css", "text/css"],
    ["/favicon.svg", "image/svg+xml"],
  ])("serves %s as %s with the strict headers", async (path, type) => {
    const server = await pageServer(null);
    const response = await fetch(`${server.url}${path}`);
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toContain(type);
    expect(response.headers.get("content-security-policy")).toBe(DEMO_PAGE_CSP);
    expect(DEMO_PAGE_CSP).toMatch(/^default-src 'self';/);
    expect(response.headers.get("x-content-type-options")).toBe("nosniff");
    expect(response.headers.get("referrer-policy")).toBe("no-referrer");
    expect(response.headers.get("x-frame-options")).toBe("DENY");
    expect((await response.text()).length).toBeGreaterThan(100);
  });

  it("has no inline script or style the CSP would block, and the bundle holds no server code", async () => {
    const server = await pageServer(null);
    const html = await (await fetch(`${server.url}/`)).text();
    expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/);
    expect(html).not.toMatch(/<style|\sstyle=|\son[a-z]+=/i);
    const script = await (await fetch(`${server.url}/app.js`)).text();
    // Type-only imports of the router must leave nothing of the server in the browser bundle.
    expect(script).not.toMatch(/drizzle|pglite|node:crypto|createHmac/);
    expect(script).not.toMatch(/localStorage|sessionStorage|document\.cookie|innerHTML/);
  });

  it("serves the files the build wrote, byte for byte", async () => {
    const server = await pageServer(null);
    for (const [path, file] of [
      ["/app.js", "app.js"],
      ["/app.css", "app.css"],
      ["/", "index.html"],
    ]) {
      const served = Buffer.from(await (await fetch(`${server.url}${path}`)).arrayBuffer());
      expect(served.equals(readFileSync(join(defaultAssetsDir(), file ?? "")))).toBe(true);
    }
  });

  it("stops start-up with the command to run when the built assets are missing", async () => {
    const empty = mkdtempSync(join(tmpdir(), "scopegate-no-assets-"));
    await expect(createDemoPage(services(), { assetsDir: empty })).rejects.toThrow(
      `demo page assets are missing (${join(empty, "index.html")}): run \`npm run build:demo\``,
    );
    // One file short is as missing as all of them.
    writeFileSync(join(empty, "index.html"), "<!doctype html>");
    await expect(createDemoPage(services(), { assetsDir: empty })).rejects.toThrow(join(empty, "app.js"));
  });

  it("leaves bundling to the build: no server module imports esbuild", () => {
    const root = join(defaultAssetsDir(), "..", "..", "..", "server");
    const sources = readdirSync(root, { recursive: true, encoding: "utf8" }).filter((f) => f.endsWith(".ts"));
    expect(sources.length).toBeGreaterThan(20);
    const importers = sources.filter((f) => /from "esbuild"/.test(readFileSync(join(root, f), "utf8")));
    expect(importers).toEqual([]);
  });

  it("answers other methods and unknown paths with the server's audited 404", async () => {
    const server = await pageServer(null);
    expect((await fetch(`${server.url}/`, { method: "POST" })).status).toBe(404);
    expect((await fetch(`${server.url}/../server/config.ts`)).status).toBe(404);
    expect((await fetch(`${server.url}/app.ts`)).status).toBe(404);
  });
});

describe("/demo-key", () => {
  it("hands the key to a same-origin browser request from this machine and audits its id only", async () => {
    const demo = await demoKeyFile();
    const server = await pageServer(demo.path);
    const response = await raw(`${server.url}/demo-key`, browserHeaders(server.url));
    expect(response.status).toBe(200);
    expect(response.headers["cache-control"]).toBe("no-store");
    expect(JSON.parse(response.body)).toEqual({ key: demo.plaintext });
    await services().audit.drain();
    const events = (await auditRows(services().database)).filter((r) => r.procedure === "demo-key");
    expect(events).toMatchObject([
      { phase: "event", keyId: demo.keyId, outcome: "ok", clientAddress: "127.0.0.1" },
    ]);
  });

  it.each([
    ["without the page's header (a plain cross-origin fetch or a link)", { "x-scopegate-demo": undefined }],
    ["from a cross-site page", { "sec-fetch-site": "cross-site" }],
    ["under a foreign Host (DNS rebinding)", { host: "attacker.example" }],
    ["through a proxy on this machine", { "x-forwarded-for": "198.51.100.9" }],
    ["through a proxy using Forwarded", { forwarded: "for=198.51.100.9" }],
  ])("is refused %s", async (_name, change) => {
    const demo = await demoKeyFile();
    const server = await pageServer(demo.path);
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries({ ...browserHeaders(server.url), ...change })) {
      if (value !== undefined) headers[name] = value;
    }
    const response = await raw(`${server.url}/demo-key`, headers);
    expect(response.status).toBe(404);
    expect(response.body).not.toContain(demo.plaintext);
    expect(JSON.parse(response.body)).toMatchObject({ error: { data: { reason: "not_found" } } });
  });

  it("is not offered at all outside embedded mode (no key path)", async () => {
    const server = await pageServer(null);
    const response = await raw(`${server.url}/demo-key`, browserHeaders(server.url));
    expect(response.status).toBe(404);
  });

  const external = Object.values(networkInterfaces())
    .flat()
    .find((a) => a && a.family === "IPv4" && !a.internal)?.address;

  it.skipIf(
    missingPrerequisite("a non-loopback IPv4 interface", external ? null : "no non-loopback IPv4 address"),
  )("is refused to a peer that is not loopback, even with a loopback Host", async () => {
    const demo = await demoKeyFile();
    const page = await createDemoPage(services(), { demoKeyPath: demo.path });
    const server = createHttpServer(services(), { extraRoutes: page.handle });
    await new Promise<void>((resolve) => server.listen(0, external, () => resolve()));
    open.push({
      close: () =>
        new Promise<void>((resolve) => {
          server.closeAllConnections();
          server.close(() => resolve());
        }),
    });
    const { port } = server.address() as AddressInfo;
    const response = await raw(`http://${external}:${port}/demo-key`, {
      ...browserHeaders(`http://127.0.0.1:${port}`),
    });
    expect(response.status).toBe(404);
    expect(response.body).not.toContain(demo.plaintext);
  });

  it("classifies loopback addresses", () => {
    expect(["127.0.0.1", "127.8.9.10", "::1", "::ffff:127.0.0.1"].map(isLoopback)).toEqual([
      true,
      true,
      true,
      true,
    ]);
    expect(["192.0.2.2", "::ffff:192.0.2.2", "fd00::2", "", undefined, "localhost"].map(isLoopback)).toEqual([
      false,
      false,
      false,
      false,
      false,
      false,
    ]);
  });
});
