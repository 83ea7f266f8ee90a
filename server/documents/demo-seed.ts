// The embedded quick start's two sample documents in the `demo` source (the demo key holds
// `db:demo`), inserted at server start under fixed ids so restarts never duplicate them.
import { type Database, documents } from "../../db/index.ts";
import type { Services } from "../context.ts";
import { newRequestId } from "../ids.ts";

export const DEMO_SOURCE = "demo";

// Fixed ids: seeding is an idempotent insert, and the README can name them in examples.
export const DEMO_DOCUMENTS = [
  {
    id: "5c0e7a52-3b1d-4c8e-9f4a-1d2b3c4d5e01",
    source: DEMO_SOURCE,
    title: "How scoped keys work",
    body: [
      "Every scopegate key carries a list of scopes, and each call names the scopes it needs.",
      "A key that summarizes documents holds endpoint:summarize-doc and one db scope per data source it may read.",
      "A call that needs a scope the key lacks is refused before any model runs, and the refusal names the missing scope.",
      "Keys can expire, be revoked, or be limited to a number of uses, and a derived key never holds more than its parent.",
    ].join(" "),
  },
  {
    id: "5c0e7a52-3b1d-4c8e-9f4a-1d2b3c4d5e02",
    source: DEMO_SOURCE,
    title: "What the audit log records",
    body: [
      "scopegate writes an audit record for every call, allowed or refused, before the answer leaves the server.",
      "A record names the key id, the scopes exercised, the outcome and its reason, the guard's flags, the model and the tokens used.",
      "Records are chained by hash and checkpoints are signed, so a changed or deleted record is found by audit verify.",
      "The plaintext key never appears in the log; only its public id does.",
    ].join(" "),
  },
] as const;

/** Inserts the sample documents missing from the `demo` source; returns the ids it inserted. */
export async function seedDemoDocuments(db: Database): Promise<string[]> {
  const inserted = await db
    .insert(documents)
    .values(DEMO_DOCUMENTS.map((doc) => ({ ...doc })))
    .onConflictDoNothing({ target: documents.id })
    .returning({ id: documents.id });
  return inserted.map((row) => row.id);
}

/** Seeds the demo documents at server start; an insert is an audited event like `documents.add`. */
export async function seedDemo(services: Services): Promise<void> {
  const ids = await seedDemoDocuments(services.database.db);
  if (ids.length === 0) return;
  await services.audit.append({
    phase: "event",
    requestId: newRequestId(),
    procedure: "demo-seed",
    outcome: "ok",
    clientAddress: "local",
    details: { source: DEMO_SOURCE, ids },
  });
  services.logger.info("demo documents added", { source: DEMO_SOURCE, count: ids.length });
}
