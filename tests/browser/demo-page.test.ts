// The demo page in a real browser (Debian chromium driven by playwright-core): keys, streamed
// chat, plain-words refusals, summaries, and model output shown as text. Screenshots go to
// tests/artifacts/. Skipped, with the reason printed, where no chromium is installed.
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type BrowserContext, chromium, type Page } from "playwright-core";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { addDocument } from "../../server/documents/store.ts";
import { createDemoPage } from "../../server/http/demo-page.ts";
import { OfflineProvider } from "../../server/model/offline.ts";
import type { Completion, CompletionRequest, ModelProvider } from "../../server/model/provider.ts";
import { startTestServer, type TestServer } from "../helpers/http.ts";
import { createTestKey, useTestServices } from "../helpers/services.ts";

const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const hasBrowser = existsSync(CHROMIUM);
if (!hasBrowser) {
  console.warn(
    `[tests/browser] skipped: no browser at ${CHROMIUM} (run .ci/browser-setup.sh or set CHROMIUM_PATH)`,
  );
}
const ARTIFACTS = join(process.cwd(), "tests", "artifacts");
const QUESTION =
  `Which scopes does this key hold, and what may it do with them? ${"Please explain each scope in turn, with an example of a call it allows and one it refuses. ".repeat(4)}`.trim();
const XSS = `<img src=x onerror="document.body.dataset.pwned='yes'">`;

/**
 * The model double: the model is not under test, the page is. It answers a chat by echoing the
 * last user message (an "image" request gets markup that would run script if parsed as HTML),
 * a word at a time, and leaves summaries to the offline provider.
 */
class EchoModel implements ModelProvider {
  readonly name = "echo-double";
  readonly #offline = new OfflineProvider();

  async complete(request: CompletionRequest): Promise<Completion> {
    if (request.task.kind !== "chat") return this.#offline.complete(request);
    const last = request.messages.filter((m) => m.role === "user").at(-1)?.content ?? "";
    const text = /image/i.test(last) ? `Here is the image you asked for: ${XSS}` : `You said: ${last}`;
    // Streamed a word at a time when the caller streams, as a real provider would.
    for (const piece of text.split(/(?<= )/)) {
      request.onDelta?.(piece);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    return { text, model: this.name, usage: { inputTokens: 10, outputTokens: text.length } };
  }
}

/** Polls generously: a loaded CI machine may take seconds to stream an answer. */
function eventually<T>(read: () => Promise<T> | T) {
  return expect.poll(read, { timeout: 15_000, interval: 50 });
}

const services = useTestServices(() => ({ model: new EchoModel() }));

describe.skipIf(!hasBrowser)("demo page in chromium", () => {
  let context: BrowserContext;
  let profile: string;
  let server: TestServer;
  let page: Page;
  let problems: string[];

  beforeAll(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    profile = mkdtempSync(join(tmpdir(), "scopegate-chromium-"));
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
      ],
    });
  });

  afterAll(async () => {
    await context?.close();
    if (profile) rmSync(profile, { recursive: true, force: true });
  });

  beforeEach(async () => {
    const demoPage = await createDemoPage(services());
    server = await startTestServer(services(), { extraRoutes: demoPage.handle });
    page = await context.newPage();
    problems = [];
    // Any CSP violation, script error, failed page asset or request off the server fails the
    // test. Refused API calls (/trpc, /demo-key) are expected in some scenarios; the browser
    // logs each as "Failed to load resource", checked by status below instead.
    page.on("console", (message) => {
      if (message.type() === "error" && !message.text().startsWith("Failed to load resource"))
        problems.push(message.text());
    });
    page.on("response", (response) => {
      const path = new URL(response.url()).pathname;
      if (response.status() >= 400 && !path.startsWith("/trpc/") && path !== "/demo-key")
        problems.push(`${response.status()} for ${path}`);
    });
    page.on("pageerror", (error) => problems.push(error.message));
    page.on("request", (request) => {
      if (!request.url().startsWith(server.url)) problems.push(`off-origin request ${request.url()}`);
    });
  });

  afterEach(async () => {
    await page.close();
    await server.close();
    expect(problems).toEqual([]);
  });

  async function open() {
    const response = await page.goto(`${server.url}/`);
    expect(response?.status()).toBe(200);
    return response;
  }

  async function useKey(scopes: string[]) {
    const key = await createTestKey(services(), { scopes, name: "browser test" });
    await page.getByLabel("API key").fill(key.plaintext);
    await page.getByRole("button", { name: "Use this key" }).click();
    await eventually(() => page.locator("#key-scopes").textContent()).toContain(scopes[0]);
    return key;
  }

  async function chat(message: string) {
    await page.getByLabel("Message").fill(message);
    await page.getByRole("button", { name: "Send" }).click();
  }

  it("loads with the strict CSP and headers, and keeps the key in memory only", async () => {
    const response = await open();
    const headers = response?.headers() ?? {};
    expect(headers["content-security-policy"]).toMatch(/^default-src 'self'/);
    expect(headers["x-content-type-options"]).toBe("nosniff");
    expect(headers["referrer-policy"]).toBe("no-referrer");

    const key = await useKey(["endpoint:chat", "prompt-processing"]);
    await eventually(() => page.locator("#key-facts").textContent()).toContain(key.keyId);
    const stored = await page.evaluate(() => ({
      local: localStorage.length,
      session: sessionStorage.length,
      cookie: document.cookie,
      field: (document.getElementById("key-input") as HTMLInputElement).value,
      html: document.documentElement.outerHTML,
      url: location.href,
    }));
    expect(stored).toMatchObject({ local: 0, session: 0, cookie: "", field: "" });
    expect(stored.html).not.toContain(key.plaintext);
    expect(stored.url).not.toContain(key.plaintext);
    expect(await context.cookies()).toEqual([]);
  });

  it("loads the demo key from an embedded-mode server on this machine", async () => {
    const demo = await createTestKey(services(), {
      name: "demo",
      env: "test",
      ttlSeconds: 3600,
      scopes: ["endpoint:summarize-doc", "endpoint:chat", "prompt-processing", "db:demo"],
    });
    const path = join(mkdtempSync(join(tmpdir(), "scopegate-demo-")), "demo-key");
    writeFileSync(path, `${demo.plaintext}\n`, { mode: 0o600 });
    const embedded = await createDemoPage(services(), { demoKeyPath: path });
    // This test's server is the embedded one; afterEach closes it.
    await server.close();
    server = await startTestServer(services(), { extraRoutes: embedded.handle });
    await open();
    await page.getByRole("button", { name: "Load the demo key" }).click();
    await eventually(() => page.locator("#key-facts").textContent()).toContain(demo.keyId);
    expect(await page.locator("#key-facts").textContent()).toMatch(/Expires.*in about (59|60) minutes/);
    expect(await page.locator("#key-scopes").textContent()).toContain("db:demo");
    expect(await page.evaluate(() => document.documentElement.outerHTML)).not.toContain(demo.plaintext);
  });

  it("says plainly that no demo key is offered outside embedded mode", async () => {
    await open();
    await page.getByRole("button", { name: "Load the demo key" }).click();
    await expect
      .poll(() => page.locator("#key-status").textContent())
      .toContain("No demo key is available here");
    expect(await page.locator("#key-info").isVisible()).toBe(false);
  });

  it("chats with a chat-scoped key and shows the streamed answer, using the keyboard only", async () => {
    await open();
    const key = await createTestKey(services(), { scopes: ["endpoint:chat", "prompt-processing"] });
    await page.getByLabel("API key").focus();
    await page.keyboard.type(key.plaintext);
    await page.keyboard.press("Enter");
    await eventually(() => page.locator("#key-scopes").textContent()).toContain("endpoint:chat");

    await page.getByLabel("Message").focus();
    // Longer than the output guard's hold-back window, so the answer arrives in several deltas.
    await page.keyboard.type(QUESTION);
    await page.keyboard.press("Control+Enter");
    const answer = page.locator("#chat-log li.assistant").last();
    await eventually(() => answer.getAttribute("data-state")).toBe("done");
    expect(await answer.locator(".text").textContent()).toBe(`You said: ${QUESTION}`);
    expect(await page.locator("#chat-log").getAttribute("aria-live")).toBe("polite");
    // Streamed: several deltas reached the page before the answer was complete.
    expect(Number(await answer.getAttribute("data-deltas"))).toBeGreaterThan(1);
    await page.setViewportSize({ width: 1024, height: 900 });
    await page.screenshot({ path: join(ARTIFACTS, "demo-chat-desktop.png"), fullPage: true });
  });

  it("explains in plain words why a summarize-only key may not chat", async () => {
    await open();
    await useKey(["endpoint:summarize-doc"]);
    await chat("hello");
    const refusal = page.locator("#chat-error");
    await eventually(() => refusal.isVisible()).toBe(true);
    const text = (await refusal.textContent()) ?? "";
    expect(text).toContain("This key is not allowed to do that.");
    expect(text).toContain("endpoint:chat lets a key use the chat");
    expect(text).toContain("prompt-processing");
    expect(text).toMatch(/Request id: req_/);
    expect(await page.locator("#chat-log li.assistant").count()).toBe(0);
    await page.setViewportSize({ width: 390, height: 844 });
    await page.screenshot({ path: join(ARTIFACTS, "demo-refusal-phone.png"), fullPage: true });
  });

  it("summarizes a stored document", async () => {
    const s = services();
    const doc = await addDocument(s.database.db, {
      source: "handbook",
      title: "Keys",
      body: "Scoped keys limit what a caller may do. Each call is checked against the key's scopes. Refusals name the missing scope. Every call is audited.",
    });
    await open();
    await useKey(["endpoint:summarize-doc", "db:handbook"]);
    await page.getByLabel("A stored document").check();
    await page.getByLabel("Data source").fill("handbook");
    await page.getByLabel("Document id").fill(doc.id);
    await page.getByRole("button", { name: "Summarize" }).click();
    await eventually(() => page.locator("#summary-text").textContent()).toMatch(/scopes?/i);
    expect(await page.locator("#summary-meta").textContent()).toContain("tokens in");

    // The same key on a source it does not hold: refused with the exact scope it lacks.
    await page.getByLabel("Data source").fill("payroll");
    await page.getByRole("button", { name: "Summarize" }).click();
    await eventually(() => page.locator("#summarize-error").textContent()).toContain("db:payroll");
  });

  it("shows model output containing markup as text, never as HTML", async () => {
    await open();
    await useKey(["endpoint:chat", "prompt-processing"]);
    await chat("Please show me the image.");
    const answer = page.locator("#chat-log li.assistant").last();
    await eventually(() => answer.getAttribute("data-state")).toBe("done");
    expect(await answer.locator(".text").textContent()).toContain(XSS);
    expect(await page.locator("#chat-log img").count()).toBe(0);
    // Had the markup been parsed, its onerror would have run by now.
    await page.waitForTimeout(200);
    expect(await page.evaluate(() => document.body.dataset.pwned ?? null)).toBeNull();
    await page.setViewportSize({ width: 390, height: 844 });
    await page.screenshot({ path: join(ARTIFACTS, "demo-chat-phone.png"), fullPage: true });
  });
});
