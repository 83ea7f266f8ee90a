// The embedded quick start in chromium, as a first-time user meets it: the demo key loads, the
// picker offers the two seeded documents, each summarizes, and the trace's audit record ids are
// rows of the server's own audit table. A restart on the same data dir seeds nothing twice.
import { eq, inArray } from "drizzle-orm";
import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { auditLog, documents } from "../../db/index.ts";
import { DEMO_DOCUMENTS, DEMO_SOURCE } from "../../server/documents/demo-seed.ts";
import { missingPrerequisite } from "../helpers/skip.ts";
import { type Browser, browserMissing, launchChromium, watchProblems } from "./chromium.ts";
import { openWithDemoKey, type QuickStart, startQuickStart, summarizeDocument } from "./quick-start.ts";

const skipped = missingPrerequisite("chromium", browserMissing);
describe.skipIf(skipped)("the embedded quick start's demo page", () => {
  let browser: Browser;
  let quick: QuickStart;

  beforeAll(async () => {
    browser = await launchChromium();
    quick = await startQuickStart();
  });

  afterAll(async () => {
    await quick?.stop();
    quick?.remove();
    await browser?.close();
  });

  async function withPage(run: (page: Page) => Promise<void>) {
    const page = await browser.context.newPage();
    const problems = watchProblems(page, () => quick.url);
    try {
      await run(page);
    } finally {
      await page.close();
    }
    expect(problems).toEqual([]);
  }

  it.each(DEMO_DOCUMENTS.map((d) => [d.title, d] as const))(
    "summarizes the seeded document “%s” with the demo key, traced to its audit records",
    async (title, doc) => {
      await withPage(async (page) => {
        await openWithDemoKey(page, quick.url);
        const options = await page
          .getByLabel("Document", { exact: true })
          .locator("option")
          .allTextContents();
        expect(options.sort()).toEqual(DEMO_DOCUMENTS.map((d) => `${d.title} (demo)`).sort());
        await summarizeDocument(page, title);
        const summary = (await page.locator("#summary-text").textContent()) ?? "";
        // The offline model is extractive: the summary is made of the document's own sentences.
        expect(summary.length).toBeGreaterThan(20);
        expect(doc.body).toContain(summary.split(". ")[0] ?? "-");

        const audit = page.locator('#summarize-trace li[data-step="audit"]');
        expect(await audit.getAttribute("data-state")).toBe("passed");
        const ids = ((await audit.getAttribute("data-record-ids")) ?? "").split(" ").map(Number);
        const rows = await quick.running.services.database.db
          .select()
          .from(auditLog)
          .where(inArray(auditLog.id, ids))
          .orderBy(auditLog.id);
        const keyId = (await page.locator("#key-facts .key-id").textContent()) ?? "";
        expect(rows.map((r) => [r.phase, r.procedure, r.keyId, r.outcome])).toEqual([
          ["admitted", "summarizeDoc", keyId, null],
          ["final", "summarizeDoc", keyId, "ok"],
        ]);
        expect(rows[1]?.input).toContain(doc.id);
      });
    },
  );

  it("seeds nothing twice when the server restarts on the same data dir", async () => {
    const dataDir = quick.dataDir;
    await quick.stop();
    quick = await startQuickStart(dataDir);
    const rows = await quick.running.services.database.db
      .select({ id: documents.id })
      .from(documents)
      .where(eq(documents.source, DEMO_SOURCE));
    expect(rows.map((r) => r.id).sort()).toEqual(DEMO_DOCUMENTS.map((d) => d.id).sort());
    await withPage(async (page) => {
      await openWithDemoKey(page, quick.url);
      expect(await page.getByLabel("Document", { exact: true }).locator("option").count()).toBe(2);
    });
  });
});
