// audit.trace: any valid key reads its own records of one request (what the demo page shows as
// the pipeline trace) and nothing else: not other keys' calls, not forged attempts under its id,
// not inputs, outputs, addresses or chain hashes, and only within the trace window.
import { describe, expect, it } from "vitest";
import { TRACE_WINDOW_MS } from "../../server/audit/query.ts";
import { generateKey } from "../../server/auth/key-format.ts";
import { newRequestId } from "../../server/ids.ts";
import { auditRows, callerFor, createTestKey, rememberIssued, useTestServices } from "../helpers/services.ts";
import { expectRefusal, outcomeOf, TestClock, testClockOf } from "./support.ts";

const services = useTestServices(() => ({ clock: new TestClock() }));
const TEXT = "Keys are checked first. Then scopes. Then limits. Then the guard. Then the model.";
const TRACE_FIELDS = [
  "callId",
  "flags",
  "id",
  "inputTokens",
  "latencyMs",
  "model",
  "outcome",
  "outputTokens",
  "phase",
  "procedure",
  "reason",
  "scopes",
  "ts",
];

async function summarizer() {
  return createTestKey(services(), { scopes: ["endpoint:summarize-doc"] });
}

describe("audit.trace", () => {
  it("returns an allowed call's admitted and final records, whose ids are rows of the audit log", async () => {
    const s = services();
    const key = await summarizer();
    const requestId = newRequestId();
    const result = await callerFor(s, key.plaintext, { requestId }).summarizeDoc({ text: TEXT });
    expect(result.requestId).toBe(requestId);

    const trace = await callerFor(s, key.plaintext).audit.trace({ requestId });
    expect(trace.records.map((r) => [r.phase, r.procedure, r.outcome])).toEqual([
      ["admitted", "summarizeDoc", null],
      ["final", "summarizeDoc", "ok"],
    ]);
    const final = trace.records[1];
    expect(final).toMatchObject({ model: "offline", reason: null, scopes: ["endpoint:summarize-doc"] });
    expect(final?.inputTokens).toBeGreaterThan(0);
    for (const record of trace.records) expect(Object.keys(record).sort()).toEqual(TRACE_FIELDS);

    await s.audit.drain();
    const rows = await auditRows(s.database);
    for (const record of trace.records) {
      expect(rows.find((row) => row.id === record.id)).toMatchObject({
        requestId,
        keyId: key.keyId,
        phase: record.phase,
      });
    }
  });

  it("returns a refused call's final record only, with its reason", async () => {
    const s = services();
    const key = await summarizer();
    const requestId = newRequestId();
    const refusal = await outcomeOf(callerFor(s, key.plaintext, { requestId }).chat({ messages: [] }));
    expect(refusal?.reason).toBe("missing_scope");
    const { records } = await callerFor(s, key.plaintext).audit.trace({ requestId });
    expect(records).toMatchObject([
      { phase: "final", procedure: "chat", outcome: "denied", reason: "missing_scope", model: null },
    ]);
  });

  it("shows nothing of another key's calls, nor of forged attempts under the caller's own key id", async () => {
    const s = services();
    const key = await summarizer();
    const other = await summarizer();
    const requestId = newRequestId();
    await callerFor(s, other.plaintext, { requestId }).summarizeDoc({ text: TEXT });
    expect((await callerFor(s, key.plaintext).audit.trace({ requestId })).records).toEqual([]);

    const forged = generateKey("live", key.keyId).plaintext;
    rememberIssued(forged);
    const forgedRequest = newRequestId();
    const refusal = await outcomeOf(
      callerFor(s, forged, { requestId: forgedRequest }).summarizeDoc({ text: TEXT }),
    );
    expect(refusal?.reason).toBe("invalid_key");
    await s.audit.drain();
    // The attempt is in the log under the key's id, but it was not the key's own call.
    const attempt = (await auditRows(s.database)).filter((r) => r.requestId === forgedRequest);
    expect(attempt).toMatchObject([{ keyId: key.keyId, reason: "invalid_key" }]);
    expect((await callerFor(s, key.plaintext).audit.trace({ requestId: forgedRequest })).records).toEqual([]);
  });

  it("keeps a call's trace for the trace window only", async () => {
    const s = services();
    const key = await summarizer();
    const requestId = newRequestId();
    await callerFor(s, key.plaintext, { requestId }).summarizeDoc({ text: TEXT });
    testClockOf(s).advance(TRACE_WINDOW_MS - 1000);
    expect((await callerFor(s, key.plaintext).audit.trace({ requestId })).records).toHaveLength(2);
    testClockOf(s).advance(2000);
    expect((await callerFor(s, key.plaintext).audit.trace({ requestId })).records).toEqual([]);
  });

  it("costs no use of a limited-use key and refuses a malformed request id", async () => {
    const s = services();
    // Two uses: after the first call and any number of traces, the second call must still pass.
    const key = await createTestKey(s, { scopes: ["endpoint:summarize-doc"], maxUses: 2 });
    const requestId = newRequestId();
    await callerFor(s, key.plaintext, { requestId }).summarizeDoc({ text: TEXT });
    for (let i = 0; i < 3; i++) {
      expect((await callerFor(s, key.plaintext).audit.trace({ requestId })).records).toHaveLength(2);
    }
    for (const bad of ["", "req_", "call_abc", `req_${"a".repeat(65)}`, "req_a b", "req_%"]) {
      await expectRefusal(
        callerFor(s, key.plaintext).audit.trace({ requestId: bad }),
        "BAD_REQUEST",
        "invalid_input",
      );
    }
    // None of the traces above spent a use: the key's second (last) use is still there.
    await callerFor(s, key.plaintext).summarizeDoc({ text: TEXT });
    // Without a valid key there is nothing to trace.
    await expectRefusal(callerFor(s, undefined).audit.trace({ requestId }), "UNAUTHORIZED", "missing_key");
  });
});
