// What the pipeline did for one call, step by step (key → scopes → input → limits → guard →
// model → output check → audit), from the call's answer or refusal and the call's own audit
// records (audit.trace). Pure; no DOM.
import type { RouterOutputs } from "../index.ts";
import { explain, flagPhrases, lookup } from "./explain.ts";

export type TraceRecord = RouterOutputs["audit"]["trace"]["records"][number];

export const STEPS = ["key", "scopes", "input", "limits", "guard", "model", "output", "audit"] as const;
export type StepName = (typeof STEPS)[number];

export const STEP_LABELS: Record<StepName, string> = {
  key: "Key",
  scopes: "Scopes",
  input: "Input",
  limits: "Limits",
  guard: "Prompt guard",
  model: "Model",
  output: "Output check",
  audit: "Audit record",
};

export type StepState = "passed" | "failed" | "not-reached" | "pending";

export interface TraceStep {
  step: StepName;
  state: StepState;
  detail: string;
  /** Audit record ids shown by this step (the audit step only). */
  recordIds?: number[];
}

/** What the page knows of a call from its answer or its refusal. */
export interface CallOutcome {
  /** The procedure as the audit log names it (`summarizeDoc`, `chatStream`). */
  procedure: string;
  keyId: string;
  requestId: string;
  /** null when the call succeeded. */
  reason: string | null;
  missingScopes?: string[];
  retryAfterMs?: number;
  flags?: string[];
}

/** The step each refusal reason stops the pipeline at; reasons not listed stop at the first unproven step. */
const REASON_STEP: Record<string, StepName> = {
  missing_key: "key",
  invalid_key: "key",
  expired_key: "key",
  revoked_key: "key",
  usage_exhausted: "key",
  auth_throttled: "key",
  invalid_end_user: "key",
  key_in_url: "key",
  missing_scope: "scopes",
  invalid_input: "input",
  invalid_json: "input",
  not_found: "input",
  payload_too_large: "input",
  rate_limited: "limits",
  budget_exhausted: "limits",
  prompt_rejected: "guard",
  model_error: "model",
  model_timeout: "model",
  output_blocked: "output",
};

function failedStep(outcome: CallOutcome, admitted: boolean): StepName | null {
  if (outcome.reason === null) return null;
  return lookup(REASON_STEP, outcome.reason) ?? (admitted ? "model" : "key");
}

function refusalWords(outcome: CallOutcome): string {
  const { title, lines } = explain({
    code: "CLIENT_ERROR",
    reason: outcome.reason ?? "unknown",
    message: "",
    requestId: null,
    httpStatus: null,
    missingScopes: outcome.missingScopes,
    retryAfterMs: outcome.retryAfterMs,
    flags: outcome.flags,
  });
  // The first line carries the specifics (which scope, when to retry, what the guard saw).
  return [title, lines[0]].filter((part) => part && !part.startsWith("• ")).join(" ");
}

const plural = (n: number, word: string) => `${n.toLocaleString()} ${word}${n === 1 ? "" : "s"}`;

function passedDetail(
  step: StepName,
  outcome: CallOutcome,
  final: TraceRecord | undefined,
  admittedRecord: TraceRecord | undefined,
): string {
  switch (step) {
    case "key":
      return `Key ${outcome.keyId} is valid, not expired, not revoked.`;
    case "scopes": {
      const scopes = final?.scopes ?? admittedRecord?.scopes ?? [];
      return scopes.length > 0 ? `Held: ${scopes.join(", ")}.` : "Every scope the call needs is held.";
    }
    case "input":
      return "The input is valid.";
    case "limits":
      return admittedRecord
        ? `Admitted: within the key's rate limit and token budget (admission record #${admittedRecord.id}).`
        : "Within the key's rate limit and token budget.";
    case "guard": {
      const phrases = flagPhrases(final?.flags ?? outcome.flags ?? []);
      return phrases.length > 0
        ? `Allowed, with a note: ${phrases.join("; ")}.`
        : "No sign of prompt injection.";
    }
    case "model": {
      if (!final?.model) return "The model answered.";
      const tokens =
        final.inputTokens === null || final.outputTokens === null
          ? ""
          : ` · ${plural(final.inputTokens, "token")} in, ${final.outputTokens.toLocaleString()} out`;
      return `${final.model}${tokens}${final.latencyMs === null ? "" : ` · ${final.latencyMs} ms`}.`;
    }
    case "output":
      return "Nothing had to be withheld from the answer.";
    case "audit":
      return "";
  }
}

function auditStep(outcome: CallOutcome, records: readonly TraceRecord[] | null): TraceStep {
  if (records === null) {
    return {
      step: "audit",
      state: "pending",
      detail: `Request ${outcome.requestId}: reading this call's records…`,
    };
  }
  const final = records.find((r) => r.phase === "final");
  if (!final) {
    return {
      step: "audit",
      state: "failed",
      detail: `No record of request ${outcome.requestId} is readable with this key.`,
    };
  }
  const ids = records.map((r) => r.id);
  const others = records.filter((r) => r !== final).map((r) => `#${r.id} (${r.phase})`);
  return {
    step: "audit",
    state: "passed",
    detail: `Final record #${final.id}, outcome “${final.outcome}”${others.length > 0 ? `; also ${others.join(", ")}` : ""}. Request ${outcome.requestId}.`,
    recordIds: ids,
  };
}

/**
 * The steps of one call. `records` are the call's own audit records (null while they load); the
 * records decide what is shown where they say more than the answer (the admission record, the
 * model, token counts, the final outcome).
 */
export function pipelineTrace(outcome: CallOutcome, records: readonly TraceRecord[] | null): TraceStep[] {
  const own = records?.filter((r) => r.procedure === outcome.procedure) ?? null;
  const admittedRecord = own?.find((r) => r.phase === "admitted");
  const final = own?.find((r) => r.phase === "final");
  const failed = failedStep(outcome, admittedRecord !== undefined);
  const failedAt = failed === null ? STEPS.length : STEPS.indexOf(failed);
  const steps: TraceStep[] = STEPS.filter((step) => step !== "audit").map((step, index) => {
    if (index < failedAt)
      return { step, state: "passed", detail: passedDetail(step, outcome, final, admittedRecord) };
    if (index === failedAt) return { step, state: "failed", detail: refusalWords(outcome) };
    return { step, state: "not-reached", detail: "Not reached." };
  });
  return [...steps, auditStep(outcome, own)];
}
