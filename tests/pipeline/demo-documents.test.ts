// The quick start's sample documents: seeded once (idempotently, audited), summarized through
// the whole pipeline without guard flags, and listed by documents.browse to any key that holds
// their source — and to no other.
import { eq } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { documents } from "../../db/index.ts";
import {
  DEMO_DOCUMENTS,
  DEMO_SOURCE,
  seedDemo,
  seedDemoDocuments,
} from "../../server/documents/demo-seed.ts";
import { addDocument } from "../../server/documents/store.ts";
import { auditRows, callerFor, createTestKey, useTestServices } from "../helpers/services.ts";
import { expectRefusal, outcomeOf } from "./support.ts";

const services = useTestServices();

describe("demo documents", () => {
  it("are seeded once: a second start inserts nothing and writes no second event", async () => {
    const s = services();
    await seedDemo(s);
    await seedDemo(s);
    expect(await seedDemoDocuments(s.database.db)).toEqual([]);
    const rows = await s.database.db.select().from(documents).where(eq(documents.source, DEMO_SOURCE));
    expect(rows.map((r) => r.id).sort()).toEqual(DEMO_DOCUMENTS.map((d) => d.id).sort());
    await s.audit.drain();
    const events = (await auditRows(s.database)).filter((r) => r.procedure === "demo-seed");
    expect(events).toMatchObject([
      {
        phase: "event",
        outcome: "ok",
        details: { source: DEMO_SOURCE, ids: DEMO_DOCUMENTS.map((d) => d.id) },
      },
    ]);
  });

  it("puts back only a removed one", async () => {
    const s = services();
    await seedDemo(s);
    const [first] = DEMO_DOCUMENTS;
    await s.database.db.delete(documents).where(eq(documents.id, first.id));
    expect(await seedDemoDocuments(s.database.db)).toEqual([first.id]);
  });

  it.each(DEMO_DOCUMENTS.map((d) => [d.title, d] as const))(
    "%s summarizes through the pipeline with the demo key's scopes and no guard flags",
    async (_title, doc) => {
      const s = services();
      await seedDemo(s);
      const key = await createTestKey(s, { scopes: ["endpoint:summarize-doc", `db:${DEMO_SOURCE}`] });
      const result = await callerFor(s, key.plaintext).summarizeDoc({
        document: { source: DEMO_SOURCE, id: doc.id },
        maxWords: 40,
      });
      expect(result.flags).toEqual([]);
      expect(result.summary.length).toBeGreaterThan(20);
      expect(doc.body).toContain(result.summary.split(" ").slice(0, 4).join(" "));
    },
  );
});

describe("documents.browse", () => {
  async function threeSources() {
    const s = services();
    await seedDemo(s);
    const notes = await addDocument(s.database.db, { source: "team-notes", title: "Notes", body: "n" });
    const secret = await addDocument(s.database.db, { source: "payroll", title: "Salaries", body: "s" });
    return { s, notes, secret };
  }

  it("lists ids and titles of the sources the key holds, and nothing of the others", async () => {
    const { s, notes, secret } = await threeSources();
    const key = await createTestKey(s, { scopes: ["endpoint:summarize-doc", "db:demo", "db:team-notes"] });
    const listed = await callerFor(s, key.plaintext).documents.browse({});
    expect(listed.map((d) => d.id).sort()).toEqual([...DEMO_DOCUMENTS.map((d) => d.id), notes.id].sort());
    expect(listed.every((d) => Object.keys(d).sort().join() === "id,source,title")).toBe(true);
    expect(JSON.stringify(listed)).not.toContain(secret.id);
    expect(JSON.stringify(listed)).not.toContain("Salaries");

    const demoOnly = await callerFor(s, key.plaintext).documents.browse({ source: "demo" });
    expect(demoOnly.map((d) => d.title).sort()).toEqual(DEMO_DOCUMENTS.map((d) => d.title).sort());
  });

  it("refuses a source the key does not hold, naming its scope, and lists nothing for a key without db scopes", async () => {
    const { s } = await threeSources();
    const key = await createTestKey(s, { scopes: ["endpoint:chat", "db:demo"] });
    const refusal = await outcomeOf(callerFor(s, key.plaintext).documents.browse({ source: "payroll" }));
    expect(refusal?.reason).toBe("missing_scope");
    expect(refusal?.details.missingScopes).toEqual(["db:payroll"]);
    const none = await createTestKey(s, { scopes: ["endpoint:chat"] });
    expect(await callerFor(s, none.plaintext).documents.browse({})).toEqual([]);
  });

  it("lists every source for db:* and bounds the page", async () => {
    const { s } = await threeSources();
    const key = await createTestKey(s, { scopes: ["db:*"] });
    expect(await callerFor(s, key.plaintext).documents.browse({})).toHaveLength(4);
    expect(await callerFor(s, key.plaintext).documents.browse({ limit: 1 })).toHaveLength(1);
    await expectRefusal(
      callerFor(s, key.plaintext).documents.browse({ limit: 101 }),
      "BAD_REQUEST",
      "invalid_input",
    );
  });
});
