// The redaction rules for every sink (audit rows, spool lines, logs, error messages, model output):
// credentials are masked everywhere, personal data in free text. Every pattern is linear-time.

export interface RedactionResult {
  text: string;
  applied: string[];
}

interface Rule {
  name: string;
  /** Credentials are masked in every field; personal data only in free text (input, output, logs). */
  kind: "credential" | "personal";
  pattern: RegExp;
  /** Extra check on a candidate (Luhn, IBAN checksum); false keeps the text as it is. */
  accept?: (match: string) => boolean;
  /**
   * A cheap exact test for the two patterns that cost most on long plain text: false only when
   * `pattern` cannot match, so the text is not scanned by it (most text holds no `@`, no long run).
   */
  mayMatch?: (text: string) => boolean;
}

function luhn(digits: string): boolean {
  let sum = 0;
  let double = false;
  for (let i = digits.length - 1; i >= 0; i--) {
    let d = digits.charCodeAt(i) - 48;
    if (double) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
    double = !double;
  }
  return sum % 10 === 0;
}

function validCard(match: string): boolean {
  const digits = match.replace(/[ -]/g, "");
  return digits.length >= 13 && digits.length <= 19 && luhn(digits);
}

function validIban(match: string): boolean {
  const iban = match.replace(/ /g, "").toUpperCase();
  if (iban.length < 15 || iban.length > 34) return false;
  const rearranged = iban.slice(4) + iban.slice(0, 4);
  // mod-97 digit by digit so the number never exceeds a double's exact range.
  let rest = 0;
  for (const ch of rearranged) {
    const value = ch >= "A" ? String(ch.charCodeAt(0) - 55) : ch;
    for (const d of value) rest = (rest * 10 + (d.charCodeAt(0) - 48)) % 97;
  }
  return rest === 1;
}

/** The start of one of our keys, anywhere in a text: enough to refuse a request that carries it. */
const KEY_PREFIX = /sg_(?:live|test)_/;
const KEY_SHAPE_GLOBAL = /sg_(?:live|test)_[0-9A-Za-z]{4,}(?:_[0-9A-Za-z]{0,64})?/g;

/** Whether text carries something that starts like one of our keys (refused in URLs and headers). */
export function looksLikeKey(text: string): boolean {
  return KEY_PREFIX.test(text);
}

/**
 * A bare secret: our key's secret part once its `sg_live_<id>_` prefix is gone (a model or a tool
 * reformatted it) is 38 base62 characters, and most providers' secrets look alike. A run of 32+
 * letters and digits is taken for one when it mixes upper case, lower case and digits, or, at a
 * key secret's exact lengths, two of them; words, hex hashes and numbers do not qualify.
 */
function opaqueSecret(run: string): boolean {
  const classes = Number(/[A-Z]/.test(run)) + Number(/[a-z]/.test(run)) + Number(/[0-9]/.test(run));
  return classes === 3 || (classes === 2 && (run.length === 32 || run.length === 38));
}

/** Whether text holds a run of 32 ASCII letters and digits, what opaque_secret's pattern needs. */
function hasLongAlnumRun(text: string): boolean {
  let run = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if ((c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122)) {
      if (++run >= 32) return true;
    } else run = 0;
  }
  return false;
}

// Order matters: specific secret formats first, so a key is not half-eaten by a generic rule.
const RULES: ReadonlyArray<Rule> = [
  {
    name: "jwt",
    kind: "credential",
    pattern: /\beyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{0,}/g,
  },
  // Our own keys, also truncated or mistyped ones: the prefix and id are enough to be a leak. No
  // word boundary before the prefix: a key glued to other text (`xsg_live_…`, `/trpc/a_sg_live_…`)
  // is still a key.
  { name: "scopegate_key", kind: "credential", pattern: KEY_SHAPE_GLOBAL },
  {
    name: "openai_key",
    kind: "credential",
    pattern: /\bsk-(?:proj-|svcacct-|admin-|ant-)?[A-Za-z0-9_-]{16,}/g,
  },
  {
    name: "github_token",
    kind: "credential",
    pattern: /\b(?:gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,})/g,
  },
  {
    name: "aws_access_key",
    kind: "credential",
    pattern: /\b(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA)[A-Z0-9]{16}\b/g,
  },
  {
    name: "aws_secret_key",
    kind: "credential",
    pattern: /\baws_?secret_?(?:access_?)?key["']?\s{0,4}[:=]\s{0,4}["']?[A-Za-z0-9/+=]{40}/gi,
  },
  { name: "slack_token", kind: "credential", pattern: /\bxox[abposr]-[A-Za-z0-9-]{10,}/g },
  { name: "google_api_key", kind: "credential", pattern: /\bAIza[0-9A-Za-z_-]{35}/g },
  { name: "stripe_key", kind: "credential", pattern: /\b(?:sk|rk|pk)_(?:live|test)_[0-9A-Za-z]{10,}/g },
  {
    name: "bearer_token",
    kind: "credential",
    pattern: /\b(?:bearer|authorization:\s{0,4}bearer)\s{1,4}[A-Za-z0-9._~+/-]{16,}=*/gi,
  },
  {
    name: "opaque_secret",
    kind: "credential",
    pattern: /(?<![0-9A-Za-z])[0-9A-Za-z]{32,}(?![0-9A-Za-z])/g,
    accept: opaqueSecret,
    mayMatch: hasLongAlnumRun,
  },
  {
    name: "email",
    kind: "personal",
    pattern: /\b[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63}){0,8}\.[A-Za-z]{2,24}\b/g,
    mayMatch: (text) => text.includes("@"),
  },
  {
    name: "iban",
    kind: "personal",
    pattern: /\b[A-Z]{2}[0-9]{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?\b/g,
    accept: validIban,
  },
  { name: "card_number", kind: "personal", pattern: /\b[0-9](?:[ -]?[0-9]){12,18}\b/g, accept: validCard },
  {
    name: "phone",
    kind: "personal",
    // Not inside dotted numbers (IP addresses, versions).
    pattern:
      /(?<![0-9.])(?:\+[1-9][0-9]{0,2}[ .-]?)?(?:\([0-9]{1,4}\)[ .-]?)?\b[0-9]{2,4}[ .-][0-9]{3,4}[ .-][0-9]{4}\b(?![.][0-9])/g,
  },
  { name: "phone", kind: "personal", pattern: /\+[1-9][0-9]{7,14}\b/g },
  { name: "phone", kind: "personal", pattern: /\([0-9]{2,4}\)[ .-]?[0-9]{3,4}[ .-]?[0-9]{3,4}\b/g },
];

const PEM_BEGIN = /-----BEGIN [A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----/g;
const PEM_END = /-----END [A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----/g;
const PEM_BODY = /[A-Za-z0-9+/=\s:,-]*/y;

/** PEM private keys, through their END line or, if truncated, through the base64 body. */
function redactPrivateKeys(text: string): string {
  if (!text.includes("PRIVATE KEY")) return text;
  let out = "";
  let from = 0;
  PEM_BEGIN.lastIndex = 0;
  for (let begin = PEM_BEGIN.exec(text); begin; begin = PEM_BEGIN.exec(text)) {
    if (begin.index < from) continue;
    // One forward search per header: the END found is the nearest one after it.
    PEM_END.lastIndex = begin.index;
    const end = PEM_END.exec(text);
    let stop: number;
    if (end) stop = end.index + end[0].length;
    else {
      PEM_BODY.lastIndex = begin.index + begin[0].length;
      PEM_BODY.exec(text);
      stop = PEM_BODY.lastIndex;
    }
    out += `${text.slice(from, begin.index)}[redacted:private_key]`;
    from = stop;
    PEM_BEGIN.lastIndex = stop;
  }
  return out + text.slice(from);
}

const CREDENTIAL_RULES = RULES.filter((rule) => rule.kind === "credential");

/** Masks credentials and personal data: for free text (prompts, model output, log lines). */
export function redactSecrets(input: string): RedactionResult {
  return redactWith(input, RULES);
}

/**
 * Masks credentials only: for identifiers that may legitimately be an e-mail address or a
 * number (end user, owner, procedure path, client address) yet must never carry a secret.
 */
export function redactCredentials(input: string): RedactionResult {
  return redactWith(input, CREDENTIAL_RULES);
}

/** Whether text carries any credential shape (refused where an identifier is expected). */
export function containsCredential(text: string): boolean {
  return redactCredentials(text).applied.length > 0;
}

function redactWith(input: string, rules: ReadonlyArray<Rule>): RedactionResult {
  const applied = new Set<string>();
  let text = redactPrivateKeys(input);
  if (text !== input) applied.add("private_key");
  for (const rule of rules) {
    if (rule.mayMatch && !rule.mayMatch(text)) continue;
    text = text.replace(rule.pattern, (match) => {
      if (rule.accept && !rule.accept(match)) return match;
      applied.add(rule.name);
      return `[redacted:${rule.name}]`;
    });
  }
  return { text, applied: [...applied] };
}
