// The embedded quick start as a user starts it (`scopegate serve` on an empty data dir: seeded
// demo documents, a demo key), in this process, and the page steps a first visit takes. Shared
// by the quick-start browser test and the README screenshot script.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Page } from "playwright-core";
import { type RunningServer, serve } from "../../server/cli/serve.ts";
import { loadConfig } from "../../server/config.ts";
import { createLogger } from "../../server/logger.ts";

export interface QuickStart {
  url: string;
  dataDir: string;
  running: RunningServer;
  /** Stops the server; the data dir is kept for a restart until `remove`. */
  stop(): Promise<void>;
  remove(): void;
}

/** `scopegate serve` on `dataDir` (a fresh one by default), embedded, offline model. */
export async function startQuickStart(
  dataDir = mkdtempSync(join(tmpdir(), "scopegate-quick-")),
): Promise<QuickStart> {
  const config = loadConfig({ SCOPEGATE_DATA_DIR: dataDir, LOG_LEVEL: "warn" });
  const running = await serve(config, createLogger("warn"), 0);
  return {
    url: `http://127.0.0.1:${running.port}`,
    dataDir,
    running,
    stop: () => running.stop(),
    remove: () => rmSync(dataDir, { recursive: true, force: true }),
  };
}

/** Opens the page and loads the demo key; resolves once the key's scopes are shown. */
export async function openWithDemoKey(page: Page, url: string): Promise<void> {
  await page.goto(`${url}/`);
  await page.getByRole("button", { name: "Load the demo key" }).click();
  await page.locator("#key-scopes").getByText("db:demo").waitFor();
}

/** Picks a document by its title in the picker, summarizes it, and waits for the whole trace. */
export async function summarizeDocument(page: Page, title: string): Promise<void> {
  const picker = page.getByLabel("Document", { exact: true });
  await picker.locator("option", { hasText: title }).waitFor({ state: "attached" });
  await picker.selectOption({ label: `${title} (demo)` });
  await page.getByRole("button", { name: "Summarize" }).click();
  await page.locator('#summarize-trace li[data-step="audit"]:not([data-state="pending"])').waitFor();
}

/** Sends a chat message and waits for the call's whole trace (answered or refused). */
export async function sendChat(page: Page, message: string): Promise<void> {
  await page.getByLabel("Message").fill(message);
  await page.getByRole("button", { name: "Send" }).click();
  await page.locator('#chat-trace li[data-step="audit"]:not([data-state="pending"])').waitFor();
}
