// One-off writes on the request path (documents, a key's pepper upgrade) run in a transaction
// whose statements are bounded by what is left of the caller's database deadline: a caller
// refused with `unavailable` at the deadline never has its write commit afterwards.
import { eq } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { documents } from "../../db/index.ts";
import { DATABASE_DEADLINE_MS } from "../../server/db-errors.ts";
import { callerFor, createTestKey, useTestServices } from "../helpers/services.ts";
import { otherDatabase } from "../helpers/skip.ts";
import { expectRefusal } from "./support.ts";

const services = useTestServices();

// A second connection can hold a row lock only on a server; PGlite has one connection.
describe.skipIf(otherDatabase("postgres"))("a request-path write blocked past the deadline", () => {
  it(
    "is refused unavailable in time, and the server cancels it: it never commits late",
    async () => {
      const s = services();
      const key = await createTestKey(s, { scopes: ["admin:documents", "db:notes"] });
      const caller = callerFor(s, key.plaintext);
      const doc = await caller.documents.add({ source: "notes", title: "kept", body: "still here" });
      const client = s.database.postgresClient;
      if (!client) throw new Error("needs the postgres-js client");
      const holder = await client.reserve();
      try {
        await holder.unsafe("begin");
        await holder.unsafe("select id from documents where id = $1 for update", [doc.id]);
        const started = performance.now();
        await expectRefusal(
          caller.documents.remove({ source: "notes", id: doc.id }),
          "SERVICE_UNAVAILABLE",
          "unavailable",
        );
        expect(performance.now() - started).toBeLessThan(DATABASE_DEADLINE_MS + 500);
        // Held a little past the deadline, so a DELETE still waiting would get the row next.
        await new Promise((resolve) => setTimeout(resolve, 300));
      } finally {
        await holder.unsafe("rollback");
        holder.release();
      }
      await new Promise((resolve) => setTimeout(resolve, 500));
      const rows = await s.database.db.select().from(documents).where(eq(documents.id, doc.id));
      expect(rows.map((r) => r.title)).toEqual(["kept"]);
      // And the pool still serves the same write once nothing holds the row.
      expect(await caller.documents.remove({ source: "notes", id: doc.id })).toMatchObject({ removed: true });
    },
    DATABASE_DEADLINE_MS * 4,
  );
});
