// Plain-words explanations for the demo page: what a scope grants, and why a call was refused
// (which scope is missing, when to retry, why a prompt was rejected). Pure; no DOM.
import type { ErrorDescription } from "../errors.ts";

/**
 * A table's own entry for a key that came from outside (a server reason, a flag, a scope):
 * `table[key]` would also find Object.prototype's `constructor`, `toString`, ….
 */
export function lookup<T>(table: Readonly<Record<string, T>>, key: string): T | undefined {
  return Object.hasOwn(table, key) ? table[key] : undefined;
}

const SCOPE_MEANINGS: Record<string, string> = {
  "endpoint:summarize-doc": "use the summarizer",
  "endpoint:chat": "use the chat",
  "prompt-processing": "send your own instructions to the model (every chat message needs it)",
  "keys:derive": "mint short-lived child keys with a subset of its scopes",
  "admin:keys": "create, list, rotate and revoke keys",
  "admin:audit": "read and verify the audit log",
  "admin:documents": "add and remove documents",
  "db:*": "read documents of every data source",
  "tool:*": "let the model call every tool",
};

/** What a scope lets a key do, in words. */
export function scopeMeaning(scope: string): string {
  const known = lookup(SCOPE_MEANINGS, scope);
  if (known) return known;
  if (scope.startsWith("db:")) return `read documents of the data source “${scope.slice(3)}”`;
  if (scope.startsWith("tool:")) return `let the model call the tool “${scope.slice(5)}”`;
  return "a scope this page does not know";
}

export interface Explanation {
  title: string;
  lines: string[];
}

/** "in 3 seconds", "in about 2 minutes", "in about 5 hours". */
export function inWords(ms: number): string {
  const seconds = Math.max(1, Math.ceil(ms / 1000));
  if (seconds < 90) return `in ${seconds} second${seconds === 1 ? "" : "s"}`;
  const minutes = Math.round(seconds / 60);
  if (minutes < 90) return `in about ${minutes} minutes`;
  return `in about ${Math.round(minutes / 60)} hours`;
}

function retryLine(error: ErrorDescription): string {
  return error.retryAfterMs === undefined
    ? "Wait a moment before trying again."
    : `You can try again ${inWords(error.retryAfterMs)}.`;
}

// What each guard flag means, in words. Flags are internal rule names: the page shows only these
// phrases (unknown flags share one generic phrase), never the names themselves.
const FLAG_MEANINGS: Record<string, string> = {
  instruction_override: "it tries to override the model's instructions",
  persona_switch: "it asks the model to become someone else",
  persona_framing: "it frames the request as a character who ignores the rules",
  harmful_roleplay: "it sets up a role-play meant to get around the rules",
  role_forgery: "it pretends to be a system or developer message",
  chat_template_forgery: "it contains fake chat-format markers",
  prompt_extraction: "it asks for the hidden system prompt",
  exfiltration_link: "it tries to make the model send data to an outside address",
  addressed_to_model: "it gives orders to the model from inside the data",
  embedded_request: "it hides a request to the model inside the data",
  code_insertion: "it tries to slip code into the answer",
  response_priming: "it dictates how the answer must start",
  adversarial_suffix: "it ends in machine-generated gibberish used in attacks",
  tag_smuggling: "it hides text in invisible tag characters",
  variation_selector_smuggling: "it hides text in invisible variation selectors",
  bidi_control_removed: "it contains text-direction control characters (removed)",
  zero_width_removed: "it contains invisible characters (removed)",
  private_use_removed: "it contains private-use characters (removed)",
  unassigned_removed: "it contains unassigned characters (removed)",
  control_removed: "it contains control characters (removed)",
  unicode_normalized: "its lookalike characters were normalized",
  document_injection: "a document or tool result contains instructions aimed at the model",
  canary_leak: "the answer repeated a secret marker from the instructions",
  system_prompt_leak: "the answer repeated the hidden instructions",
  exfiltration_link_removed: "a link that could send data out was removed from the answer",
  exfiltration_image_removed: "an image that could send data out was removed from the answer",
};
// Verdict markers: the refusal or the trace already says whether the prompt was flagged or refused.
const VERDICT_FLAGS = new Set(["prompt_flagged", "prompt_blocked"]);
const OTHER_CHECK = "another of the guard's checks matched";

function flagMeaning(flag: string): string | null {
  if (VERDICT_FLAGS.has(flag)) return null;
  const known = lookup(FLAG_MEANINGS, flag);
  if (known) return known;
  if (flag.startsWith("hidden_")) return "it hides an instruction in encoded or invisible text";
  if (flag.startsWith("document:")) return lookup(FLAG_MEANINGS, "document_injection") ?? OTHER_CHECK;
  if (flag.startsWith("redacted:")) return "a secret in the answer was redacted";
  return OTHER_CHECK;
}

/** The guard's flags as distinct plain-words phrases, in the order first seen; no rule names. */
export function flagPhrases(flags: readonly string[]): string[] {
  const phrases: string[] = [];
  for (const flag of flags) {
    const phrase = flagMeaning(flag);
    if (phrase !== null && !phrases.includes(phrase)) phrases.push(phrase);
  }
  return phrases;
}

function reasonExplanation(error: ErrorDescription): Explanation {
  switch (error.reason) {
    case "missing_scope": {
      const scopes = error.missingScopes ?? [];
      return {
        title: "This key is not allowed to do that.",
        lines: [
          scopes.length > 0
            ? `It is missing ${scopes.length === 1 ? "the scope" : "the scopes"} ${scopes.join(", ")}:`
            : "It lacks a scope this call needs.",
          ...scopes.map((scope) => `• ${scope} lets a key ${scopeMeaning(scope)}.`),
          "Ask whoever issued the key for one that includes it.",
        ],
      };
    }
    case "missing_key":
      return { title: "No key was sent.", lines: ["Paste a key above first."] };
    case "invalid_key":
      return {
        title: "The server did not accept this key.",
        lines: [
          "Check that you pasted the whole key, with no spaces; it may have been mistyped or never existed.",
        ],
      };
    case "expired_key":
      return { title: "This key has expired.", lines: ["Ask for a new key (the demo key lasts one hour)."] };
    case "revoked_key":
      return { title: "This key has been revoked.", lines: ["It can no longer be used; ask for a new one."] };
    case "usage_exhausted":
      return {
        title: "This key has no uses left.",
        lines: ["It was limited to a number of calls and has used them all."],
      };
    case "auth_throttled":
      return { title: "Too many failed attempts from your address.", lines: [retryLine(error)] };
    case "rate_limited":
      return { title: "This key is sending requests too fast.", lines: [retryLine(error)] };
    case "budget_exhausted":
      return { title: "This key has used up its model budget for today.", lines: [retryLine(error)] };
    case "prompt_rejected":
      return {
        title: "The prompt was refused by the safety guard.",
        lines: [
          flagPhrases(error.flags ?? []).length > 0
            ? `It looks like a prompt-injection attempt: ${flagPhrases(error.flags ?? []).join("; ")}.`
            : "It looks like an attempt to make the model ignore its instructions.",
          "Rephrase the message as an ordinary question.",
        ],
      };
    case "output_blocked":
      return {
        title: "The model's answer was withheld.",
        lines: [
          "The output check found something that must not leave the server (such as a secret or a link that sends data out).",
        ],
      };
    case "invalid_input":
      return {
        title: "Some input was not valid.",
        lines: Object.entries(error.fieldErrors ?? {}).map(
          ([field, messages]) => `${field}: ${messages.join(" ")}`,
        ),
      };
    case "not_found":
      return { title: "Not found.", lines: ["There is no document with that id in that data source."] };
    case "model_error":
      return {
        title: "The model provider failed.",
        lines: ["Nothing was charged for the answer; try again."],
      };
    case "model_timeout":
      return {
        title: "The model took too long to answer.",
        lines: ["Try again, perhaps with a shorter text."],
      };
    case "unavailable":
      return { title: "The server cannot reach its database right now.", lines: ["Try again shortly."] };
    case "network_error":
      return { title: "The server could not be reached.", lines: ["Check that scopegate is still running."] };
    case "aborted":
      return { title: "Stopped.", lines: [] };
    default:
      return { title: "The request failed.", lines: [error.message] };
  }
}

/** The explanation shown for a refusal, ending with the request id the audit log records. */
export function explain(error: ErrorDescription): Explanation {
  const explanation = reasonExplanation(error);
  if (error.requestId) explanation.lines.push(`Request id: ${error.requestId}`);
  return explanation;
}
