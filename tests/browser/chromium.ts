// Debian's chromium driven by playwright-core, for the demo page's browser tests and the README
// screenshots: one launch recipe, and a watcher that collects anything the page got wrong.
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type BrowserContext, chromium, type Page } from "playwright-core";

export const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
/** Why chromium cannot run here, or null when it can. */
export const browserMissing = existsSync(CHROMIUM)
  ? null
  : `no chromium at ${CHROMIUM} (run .ci/browser-setup.sh or set CHROMIUM_PATH)`;

export const DESKTOP = { width: 1280, height: 900 } as const;
export const PHONE = { width: 390, height: 844 } as const;

export interface Browser {
  context: BrowserContext;
  close(): Promise<void>;
}

/** Headless, offline-minded chromium in a throwaway profile (no sync, no component updates). */
export async function launchChromium(): Promise<Browser> {
  const profile = mkdtempSync(join(tmpdir(), "scopegate-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
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
  return {
    context,
    close: async () => {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/**
 * Collects every CSP violation, script error, failed page asset and request off the server.
 * Refused API calls (/trpc, /demo-key) are expected in some scenarios; the browser logs each as
 * "Failed to load resource", and tests check their statuses instead.
 */
export function watchProblems(page: Page, serverUrl: () => string): string[] {
  const problems: string[] = [];
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
    if (!request.url().startsWith(serverUrl())) problems.push(`off-origin request ${request.url()}`);
  });
  return problems;
}

/** Whether anything on the page is wider than the viewport, and whether the key id breaks across lines. */
export async function layoutProblems(page: Page): Promise<string[]> {
  return page.evaluate(() => {
    const found: string[] = [];
    const root = document.documentElement;
    if (root.scrollWidth > root.clientWidth)
      found.push(`page scrolls sideways: ${root.scrollWidth}px wide in ${root.clientWidth}px`);
    for (const id of document.querySelectorAll<HTMLElement>(".key-id")) {
      // An inline element that wraps has one client rect per line.
      if (id.getClientRects().length !== 1) found.push(`key id ${id.textContent} wraps`);
      if (id.getBoundingClientRect().right > root.clientWidth)
        found.push(`key id ${id.textContent} overflows`);
    }
    return found;
  });
}
