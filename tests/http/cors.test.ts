// CORS: only origins in SCOPEGATE_CORS_ORIGINS get CORS headers (and a preflight that allows the
// Authorization header); any other origin gets none, so browsers keep it out.
import { afterEach, describe, expect, it } from "vitest";
import { startTestServer, type TestServer } from "../helpers/http.ts";
import { useTestServices } from "../helpers/services.ts";

const services = useTestServices({ config: { corsOrigins: ["https://app.example"] } });
let server: TestServer | null = null;
afterEach(async () => {
  await server?.close();
  server = null;
});

describe("CORS", () => {
  it("answers an allowed origin's preflight and requests, and nobody else's", async () => {
    server = await startTestServer(services());
    const preflight = await fetch(`${server.url}/trpc/summarizeDoc`, {
      method: "OPTIONS",
      headers: { origin: "https://app.example", "access-control-request-method": "POST" },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get("access-control-allow-origin")).toBe("https://app.example");
    expect(preflight.headers.get("access-control-allow-headers")).toContain("authorization");

    const allowed = await fetch(`${server.url}/healthz`, { headers: { origin: "https://app.example" } });
    expect(allowed.headers.get("access-control-allow-origin")).toBe("https://app.example");
    expect(allowed.headers.get("access-control-expose-headers")).toContain("x-request-id");

    const other = await fetch(`${server.url}/trpc/summarizeDoc`, {
      method: "OPTIONS",
      headers: { origin: "https://evil.example", "access-control-request-method": "POST" },
    });
    expect(other.headers.get("access-control-allow-origin")).toBeNull();
  });
});
