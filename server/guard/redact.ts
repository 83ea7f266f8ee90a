// One redaction function for every sink (audit rows, logs, error messages, model output): secrets
// and personal data are masked before text leaves the request. Every pattern is linear-time.

export interface RedactionResult {
  text: string;
  applied: string[];
}

interface Rule {
  name: string;
  pattern: RegExp;
  /** Extra check on a candidate (Luhn, IBAN checksum); false keeps the text as it is. */
  accept?: (match: string) => boolean;
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

// Order matters: specific secret formats first, so a key is not half-eaten by a generic rule.
const RULES: ReadonlyArray<Rule> = [
  { name: "jwt", pattern: /\beyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{0,}/g },
  // Our own keys, also truncated or mistyped ones: the prefix and id are enough to be a leak.
  { name: "scopegate_key", pattern: /\bsg_(?:live|test)_[0-9A-Za-z]{4,}(?:_[0-9A-Za-z]{0,64})?/g },
  { name: "openai_key", pattern: /\bsk-(?:proj-|svcacct-|admin-|ant-)?[A-Za-z0-9_-]{16,}/g },
  { name: "github_token", pattern: /\b(?:gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,})/g },
  { name: "aws_access_key", pattern: /\b(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA)[A-Z0-9]{16}\b/g },
  {
    name: "aws_secret_key",
    pattern: /\baws_?secret_?(?:access_?)?key["']?\s{0,4}[:=]\s{0,4}["']?[A-Za-z0-9/+=]{40}/gi,
  },
  { name: "slack_token", pattern: /\bxox[abposr]-[A-Za-z0-9-]{10,}/g },
  { name: "google_api_key", pattern: /\bAIza[0-9A-Za-z_-]{35}/g },
  { name: "stripe_key", pattern: /\b(?:sk|rk|pk)_(?:live|test)_[0-9A-Za-z]{10,}/g },
  {
    name: "bearer_token",
    pattern: /\b(?:bearer|authorization:\s{0,4}bearer)\s{1,4}[A-Za-z0-9._~+/-]{16,}=*/gi,
  },
  {
    name: "email",
    pattern: /\b[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63}){0,8}\.[A-Za-z]{2,24}\b/g,
  },
  {
    name: "iban",
    pattern: /\b[A-Z]{2}[0-9]{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?\b/g,
    accept: validIban,
  },
  { name: "card_number", pattern: /\b[0-9](?:[ -]?[0-9]){12,18}\b/g, accept: validCard },
  {
    name: "phone",
    // Not inside dotted numbers (IP addresses, versions).
    pattern:
      /(?<![0-9.])(?:\+[1-9][0-9]{0,2}[ .-]?)?(?:\([0-9]{1,4}\)[ .-]?)?\b[0-9]{2,4}[ .-][0-9]{3,4}[ .-][0-9]{4}\b(?![.][0-9])/g,
  },
  { name: "phone", pattern: /\+[1-9][0-9]{7,14}\b/g },
  { name: "phone", pattern: /\([0-9]{2,4}\)[ .-]?[0-9]{3,4}[ .-]?[0-9]{3,4}\b/g },
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

export function redactSecrets(input: string): RedactionResult {
  const applied = new Set<string>();
  let text = redactPrivateKeys(input);
  if (text !== input) applied.add("private_key");
  for (const rule of RULES) {
    text = text.replace(rule.pattern, (match) => {
      if (rule.accept && !rule.accept(match)) return match;
      applied.add(rule.name);
      return `[redacted:${rule.name}]`;
    });
  }
  return { text, applied: [...applied] };
}
