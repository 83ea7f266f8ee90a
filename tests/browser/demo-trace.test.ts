// The demo page's pure parts, over generated inputs: the pipeline trace (steps in order, at most
// one where the call stopped, nothing after it run) and the guard's flags in plain words (no
// rule name ever reaches the text a user reads).
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { explain, flagPhrases } from "../../client/demo/explain.ts";
import { type CallOutcome, pipelineTrace, STEPS, type TraceRecord } from "../../client/demo/trace.ts";

const KNOWN_FLAGS = [
  "instruction_override",
  "persona_switch",
  "prompt_extraction",
  "prompt_blocked",
  "prompt_flagged",
  "document_injection",
  "hidden_decoded",
  "tag_smuggling",
  "canary_leak",
];
const REASONS = [
  "missing_key",
  "invalid_key",
  "expired_key",
  "missing_scope",
  "invalid_input",
  "not_found",
  "rate_limited",
  "budget_exhausted",
  "prompt_rejected",
  "model_error",
  "model_timeout",
  "output_blocked",
  "unavailable",
  "internal_error",
];

/** Rule names as the guard makes them: snake_case, or prefixed with `hidden_`, `document:`, `redacted:`. */
// Names that are also Object.prototype's members must not find anything in a lookup table.
const PROTOTYPE_NAMES = ["constructor", "toString", "__proto__", "hasOwnProperty"];

const ruleName = fc.oneof(
  fc.constantFrom(...KNOWN_FLAGS, ...PROTOTYPE_NAMES.filter((n) => n.includes("_"))),
  fc
    .tuple(fc.stringMatching(/^[a-z]{2,10}$/), fc.stringMatching(/^[a-z]{2,10}$/))
    .map(([a, b]) => `${a}_${b}`),
  fc
    .tuple(fc.constantFrom("hidden_", "document:", "redacted:"), fc.stringMatching(/^[a-z_]{2,16}$/))
    .map(([prefix, rest]) => prefix + rest),
);

function record(id: number, phase: "admitted" | "final", procedure: string, flags: string[]): TraceRecord {
  return {
    id,
    ts: "2030-01-01T00:00:00.000Z",
    callId: `call_${id}`,
    phase,
    procedure,
    scopes: ["endpoint:chat", "prompt-processing"],
    outcome: phase === "final" ? "rejected" : null,
    reason: phase === "final" ? "prompt_rejected" : null,
    flags,
    model: null,
    inputTokens: null,
    outputTokens: null,
    latencyMs: 3,
  };
}

const outcome = (reason: string | null, flags: string[] = []): CallOutcome => ({
  procedure: "chatStream",
  keyId: "AbCdEfGhIjKl",
  requestId: "req_abc",
  reason,
  flags,
});

describe("guard flags in plain words", () => {
  it("never shows a rule name, in the refusal or in the trace", () => {
    fc.assert(
      fc.property(fc.array(ruleName, { maxLength: 8 }), (flags) => {
        const refusal = explain({
          code: "UNPROCESSABLE_CONTENT",
          reason: "prompt_rejected",
          message: "The prompt was refused by the injection guard.",
          requestId: "req_abc",
          httpStatus: 422,
          flags,
        });
        const records = [record(1, "admitted", "chatStream", []), record(2, "final", "chatStream", flags)];
        const shown = [
          refusal.title,
          ...refusal.lines,
          ...pipelineTrace(outcome("prompt_rejected", flags), records).map((s) => s.detail),
          ...pipelineTrace(outcome(null, flags), records).map((s) => s.detail),
        ].join("\n");
        for (const flag of flags) expect(shown).not.toContain(flag);
      }),
    );
  });

  it("says each distinct thing once, and nothing for the verdict markers alone", () => {
    expect(flagPhrases(["instruction_override", "instruction_override", "prompt_blocked"])).toEqual([
      "it tries to override the model's instructions",
    ]);
    expect(flagPhrases(["prompt_flagged"])).toEqual([]);
    expect(flagPhrases(["made_up_one", "made_up_two", ...PROTOTYPE_NAMES])).toEqual([
      "another of the guard's checks matched",
    ]);
  });
});

describe("pipeline trace", () => {
  it("runs every step up to the one that refused, and none after it", () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.constant(null),
          fc.constantFrom(...REASONS, ...PROTOTYPE_NAMES),
          fc.stringMatching(/^[a-z_]{1,20}$/),
        ),
        fc.boolean(),
        (reason, admitted) => {
          const records = [
            ...(admitted ? [record(1, "admitted", "chatStream", [])] : []),
            record(2, "final", "chatStream", []),
          ];
          const steps = pipelineTrace(outcome(reason), records);
          expect(steps.map((s) => s.step)).toEqual([...STEPS]);
          const states = steps.slice(0, -1).map((s) => s.state);
          const failed = states.indexOf("failed");
          if (reason === null) expect(failed).toBe(-1);
          else expect(failed).toBeGreaterThanOrEqual(0);
          if (failed >= 0) {
            expect(states.slice(0, failed).every((s) => s === "passed")).toBe(true);
            expect(states.slice(failed + 1).every((s) => s === "not-reached")).toBe(true);
          }
          expect(steps.at(-1)).toMatchObject({
            step: "audit",
            state: "passed",
            recordIds: records.map((r) => r.id),
          });
        },
      ),
    );
  });

  it("stops where each known refusal happens", () => {
    const stopsAt = (reason: string) =>
      pipelineTrace(outcome(reason), []).find((s) => s.state === "failed")?.step;
    expect(
      Object.fromEntries(
        [
          "invalid_key",
          "missing_scope",
          "not_found",
          "rate_limited",
          "prompt_rejected",
          "model_timeout",
          "output_blocked",
        ].map((r) => [r, stopsAt(r)]),
      ),
    ).toEqual({
      invalid_key: "key",
      missing_scope: "scopes",
      not_found: "input",
      rate_limited: "limits",
      prompt_rejected: "guard",
      model_timeout: "model",
      output_blocked: "output",
    });
  });

  it("reads only the call's own procedure's records out of a batch, and says so when none is readable", () => {
    const batch = [record(7, "admitted", "summarizeDoc", []), record(8, "final", "summarizeDoc", [])];
    const audit = pipelineTrace(outcome(null), batch).at(-1);
    expect(audit).toMatchObject({ state: "failed" });
    expect(audit?.detail).toContain("No record of request req_abc");
    expect(pipelineTrace(outcome(null), null).at(-1)).toMatchObject({ state: "pending" });
  });
});
