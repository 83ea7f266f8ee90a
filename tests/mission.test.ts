// The mission's scenario: a summarize-only key summarizes, cannot chat, and reads a private
// source only when it holds that source's scope.
import { TRPCError } from "@trpc/server";
import { describe, expect, it } from "vitest";
import { addDocument } from "../server/documents/store.ts";
import { auditRows, callerFor, createTestKey, useTestServices } from "./helpers/services.ts";

const services = useTestServices();

async function expectTrpcError(promise: Promise<unknown>, code: string, reason: string) {
  const error = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(TRPCError);
  expect((error as TRPCError).code).toBe(code);
  expect((error as { reason?: string }).reason).toBe(reason);
  return error as TRPCError & { details: { missingScopes?: string[] } };
}

describe("a key with only endpoint:summarize-doc", () => {
  it("summarizes text, is refused chat naming both missing scopes", async () => {
    const s = services();
    const key = await createTestKey(s, { scopes: ["endpoint:summarize-doc"] });
    const api = callerFor(s, key.plaintext);

    const result = await api.summarizeDoc({
      text: "Scopegate checks every key. Keys carry scopes. A summarize key cannot chat.",
      maxWords: 20,
    });
    expect(result.summary.length).toBeGreaterThan(0);
    expect(result.model).toBe("offline");

    const error = await expectTrpcError(
      api.chat({ messages: [{ role: "user", content: "hello" }] }),
      "FORBIDDEN",
      "missing_scope",
    );
    expect(error.details.missingScopes).toEqual(["endpoint:chat", "prompt-processing"]);
  });

  it("reads a private-documents document only with db:private-documents", async () => {
    const s = services();
    const doc = await addDocument(s.database.db, {
      source: "private-documents",
      title: "Payroll",
      body: "The payroll run happens on the last Friday. Salaries are confidential.",
    });
    const without = await createTestKey(s, { scopes: ["endpoint:summarize-doc"] });
    const denied = await expectTrpcError(
      callerFor(s, without.plaintext).summarizeDoc({ document: { source: "private-documents", id: doc.id } }),
      "FORBIDDEN",
      "missing_scope",
    );
    expect(denied.details.missingScopes).toEqual(["db:private-documents"]);

    const withScope = await createTestKey(s, { scopes: ["endpoint:summarize-doc", "db:private-documents"] });
    const api = callerFor(s, withScope.plaintext);
    const summary = await api.summarizeDoc({ document: { source: "private-documents", id: doc.id } });
    expect(summary.summary).toContain("payroll");

    await expectTrpcError(
      api.summarizeDoc({
        document: { source: "private-documents", id: "00000000-0000-4000-8000-000000000000" },
      }),
      "NOT_FOUND",
      "not_found",
    );

    const finals = (await auditRows(s.database)).filter((r) => r.phase === "final");
    expect(finals.map((r) => [r.keyId, r.outcome, r.reason])).toEqual([
      [without.keyId, "denied", "missing_scope"],
      [withScope.keyId, "ok", null],
      [withScope.keyId, "denied", "not_found"],
    ]);
  });
});
