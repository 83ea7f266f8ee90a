// Canonicalizes untrusted text before anything else reads it: NFKC, then an allow-list of Unicode
// categories that keeps legitimate text intact and removes (and flags) what smuggles instructions.
// NFKC (the contract), not NFC: full-width "ｉｇｎｏｒｅ" or "＜｜im_start｜＞", ligatures and math
// letters would otherwise reach the model as look-alikes of what the detector and the spotlighting
// escape look for. What it changes keeps its meaning — full-width punctuation becomes its ASCII twin
// ("，" → ","), "x²" → "x2", "ﬁ" → "fi" — while emoji ZWJ sequences, variation selectors, flags, CJK
// and RTL letters have no compatibility decomposition and pass through unchanged.

export interface SanitizeResult {
  text: string;
  flags: string[];
}

// Printable ASCII plus tab/newline/CR needs no work at all: the common case stays fast.
const PLAIN_ASCII = /^[\t\n\r\x20-\x7e]*$/;
// Everything outside the allow-list (letters, marks, numbers, punctuation, symbols, spaces, tab,
// newline), plus the allowed characters whose legitimacy depends on their neighbours. A subdivision
// flag (black flag, tag letters, cancel tag) is matched whole so its tags survive.
const SPECIAL =
  // biome-ignore lint/suspicious/noMisleadingCharacterClass: joiners and marks are matched on their own, on purpose.
  /\u{1f3f4}[\u{e0030}-\u{e0039}\u{e0061}-\u{e007a}]{1,7}\u{e007f}|[\u{fe00}-\u{fe0f}\u{e0100}-\u{e01ef}]+|[\u00ad\u200c\u200d\u200e\u200f\u061c]|[^\p{L}\p{M}\p{N}\p{P}\p{S}\p{Zs}\t\n\r]/gu;
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is being found.
const NON_ASCII_OR_CONTROL = /[\0-\x08\x0b\x0c\x0e-\x1f\x7f]|[^\0-\x7f]+/g;
const LETTER_OR_MARK = /^[\p{L}\p{M}]$/u;
const VISIBLE = /^[\p{L}\p{M}\p{N}\p{P}\p{S}]$/u;
const BIDI_CONTROLS = /^[\u202a-\u202e\u2066-\u2069]$/u;
const BIDI_MARK = /^[\u200e\u200f\u061c]$/u;
const LINE_SEPARATORS = /^[\u2028\u2029\u0085]$/u;

function charBefore(s: string, offset: number): string | undefined {
  if (offset <= 0) return undefined;
  const low = s.charCodeAt(offset - 1);
  const isLowSurrogate = low >= 0xdc00 && low <= 0xdfff;
  return isLowSurrogate && offset >= 2 ? s.slice(offset - 2, offset) : s[offset - 1];
}

function charAfter(s: string, offset: number): string | undefined {
  const cp = s.codePointAt(offset);
  return cp === undefined ? undefined : String.fromCodePoint(cp);
}

// A joiner is legitimate only between non-ASCII visible characters (emoji ZWJ sequences, Indic
// conjuncts, Persian ZWNJ); between ASCII letters it only splits keywords apart.
function isJoinerContext(prev: string | undefined, next: string | undefined): boolean {
  if (prev === undefined || next === undefined) return false;
  if ((prev.codePointAt(0) ?? 0) < 0x80 || (next.codePointAt(0) ?? 0) < 0x80) return false;
  return VISIBLE.test(prev) && VISIBLE.test(next);
}

export function sanitizeText(input: string): SanitizeResult {
  if (PLAIN_ASCII.test(input)) return { text: input, flags: [] };
  // ICU's quick check makes whole-text NFKC about as cheap as a scan when little changes.
  const normalized = input.normalize("NFKC");
  const flags = new Set<string>();
  if (normalized !== input) flags.add("unicode_normalized");
  if (!needsCleaning(normalized)) return { text: normalized, flags: [...flags] };

  const text = normalized.replace(NON_ASCII_OR_CONTROL, (island: string, at: number, whole: string) =>
    island.replace(SPECIAL, (match: string, offset: number) =>
      cleanSpecial(match, whole, at + offset, flags),
    ),
  );
  return { text, flags: [...flags] };
}

// Per BMP code unit: 1 when the character is outside the allow-list or its legitimacy depends on its
// neighbours (joiners, soft hyphen, bidi marks, selectors). Surrogates are 1: astral characters
// (tags, emoji, private use planes) always take the careful path. Built from SPECIAL itself, on
// first use (about 20 ms), so pure-ASCII workloads never pay for it.
let careful: Uint8Array | undefined;

function carefulTable(): Uint8Array {
  if (careful) return careful;
  const table = new Uint8Array(0x10000);
  const one = new RegExp(SPECIAL.source, "u");
  for (let c = 0; c < 0x10000; c++) {
    const isSurrogate = c >= 0xd800 && c <= 0xdfff;
    const isAllowedAscii = c === 9 || c === 10 || c === 13 || (c >= 0x20 && c < 0x7f);
    if (isSurrogate || (!isAllowedAscii && one.test(String.fromCharCode(c)))) table[c] = 1;
  }
  careful = table;
  return table;
}

const NOT_PLAIN = /[^\t\n\r\x20-\x7e]/g;

/** Whether any character needs the allow-list pass (one table read per character). */
function needsCleaning(text: string): boolean {
  const table = carefulTable();
  // The regex engine skips the ASCII bulk; only the few other characters are looked up.
  NOT_PLAIN.lastIndex = 0;
  for (let m = NOT_PLAIN.exec(text); m; m = NOT_PLAIN.exec(text)) {
    if (table[text.charCodeAt(m.index)] === 1) return true;
  }
  return false;
}

function cleanSpecial(match: string, whole: string, offset: number, flags: Set<string>): string {
  const prev = charBefore(whole, offset);
  const next = charAfter(whole, offset + match.length);
  const cp = match.codePointAt(0) ?? 0;
  if (cp === 0x1f3f4) return match;
  if ((cp >= 0xfe00 && cp <= 0xfe0f) || (cp >= 0xe0100 && cp <= 0xe01ef)) {
    // One selector picks a glyph presentation; a run of them encodes hidden bytes.
    const first = String.fromCodePoint(cp);
    if (match.length > first.length) flags.add("variation_selector_smuggling");
    return prev !== undefined && VISIBLE.test(prev) ? first : "";
  }
  if (match === "\u200d" || match === "\u200c") {
    if (isJoinerContext(prev, next)) return match;
    flags.add("zero_width_removed");
    return "";
  }
  if (match === "\u00ad") {
    // A soft hyphen is a hyphenation hint inside a word; anywhere else it is padding.
    if (prev !== undefined && next !== undefined && LETTER_OR_MARK.test(prev) && LETTER_OR_MARK.test(next)) {
      return match;
    }
    flags.add("zero_width_removed");
    return "";
  }
  // Bidi marks without scope are ordinary in right-to-left text; runs of them are not.
  if (BIDI_MARK.test(match)) {
    if (next === undefined || !BIDI_MARK.test(next)) return match;
    flags.add("bidi_control_removed");
    return "";
  }
  if (LINE_SEPARATORS.test(match)) return "\n";
  if (cp >= 0xe0000 && cp <= 0xe007f) flags.add("tag_smuggling");
  else if (BIDI_CONTROLS.test(match)) flags.add("bidi_control_removed");
  else if (/^\p{Co}$/u.test(match)) flags.add("private_use_removed");
  else if (/^\p{Cn}$/u.test(match)) flags.add("unassigned_removed");
  else if (/^\p{Cf}$/u.test(match)) flags.add("zero_width_removed");
  else flags.add("control_removed");
  return "";
}
