// Canonical views of untrusted text for the detector: folded (NFKC, invisibles stripped, homoglyphs
// folded), deobfuscated (leetspeak, spaced or dotted letters, scrambled words undone), reversed, hidden
// comments, smuggled and decoded payloads.

import { disguisedFunctionWords, readsDisguised } from "./function-words.ts";
import { bidiDisplayOrder, looksReversed, reverseString } from "./reversal.ts";
import { segmentWords } from "./segment.ts";
import { unscrambleWords } from "./unscramble.ts";

export type ViewName = "folded" | "deobfuscated" | "reversed" | "hidden_comment" | "smuggled" | "decoded";

export interface View {
  name: ViewName;
  text: string;
}

export interface ViewOptions {
  /** Caps on decoding so an attacker cannot make the guard do unbounded work. */
  maxDecodedChars?: number;
  maxDepth?: number;
  /** false when the caller reads hidden comments and smuggled payloads itself (hiddenPayloadViews). */
  payloads?: boolean;
  /** Texts up to this length always get a rot13 view; longer ones only when they mention rot13. */
  rot13Below?: number;
  /** false for pieces of a long document found by plain-text cues: a reversed, scrambled or rot13
   * instruction has none of those cues, so looking for those disguises there would only cost time. */
  disguises?: boolean;
}

const PLAIN_ASCII = /^[\t\n\r\x20-\x7e]*$/;
// Everything a reader cannot see: format characters (zero-width, bidi, tags, soft hyphen),
// variation selectors, private use, unassigned and C1 controls. Applied to non-ASCII runs only.
// biome-ignore lint/suspicious/noMisleadingCharacterClass: these are single invisible code points, matched one by one.
const INVISIBLE = /[\p{Cf}\p{Co}\p{Cn}\u{fe00}-\u{fe0f}\u{e0100}-\u{e01ef}\u{80}-\u{9f}]/gu;
// ASCII controls, or a non-ASCII run with the ASCII character before it (its base for NFKC):
// the slow Unicode-aware work only ever touches these short islands.
// biome-ignore lint/suspicious/noControlCharactersInRegex: removing control characters is the point.
const ISLAND = /[\0-\x08\x0b\x0c\x0e-\x1f\x7f]|[\0-\x7f]?[^\0-\x7f]+/g;

// Cross-script lookalikes that NFKC leaves alone (after lower-casing). A view, never shown to anyone.
export const CONFUSABLES: Readonly<Record<string, string>> = {
  а: "a",
  в: "b",
  е: "e",
  ё: "e",
  к: "k",
  м: "m",
  н: "h",
  о: "o",
  р: "p",
  с: "c",
  т: "t",
  у: "y",
  х: "x",
  ѕ: "s",
  і: "i",
  ї: "i",
  ј: "j",
  ԁ: "d",
  ԛ: "q",
  ԝ: "w",
  ɡ: "g",
  ո: "n",
  ս: "u",
  օ: "o",
  α: "a",
  β: "b",
  ε: "e",
  η: "n",
  ι: "i",
  κ: "k",
  ν: "v",
  ο: "o",
  ρ: "p",
  τ: "t",
  υ: "u",
  χ: "x",
  γ: "y",
  ω: "w",
  ı: "i",
  ȷ: "j",
  ℓ: "l",
  ꞵ: "b",
  ᴀ: "a",
  ʙ: "b",
  ᴄ: "c",
  ᴅ: "d",
  ᴇ: "e",
  ɢ: "g",
  ʜ: "h",
  ɪ: "i",
  ᴊ: "j",
  ᴋ: "k",
  ʟ: "l",
  ᴍ: "m",
  ɴ: "n",
  ᴏ: "o",
  ᴘ: "p",
  ʀ: "r",
  ꜱ: "s",
  ᴛ: "t",
  ᴜ: "u",
  ᴠ: "v",
  ᴡ: "w",
  ʏ: "y",
  ᴢ: "z",
};
const CONFUSABLE_CHARS = new RegExp(`[${Object.keys(CONFUSABLES).join("")}]`, "gu");

const LEET: Record<string, string> = {
  "0": "o",
  "1": "i",
  "3": "e",
  "4": "a",
  "5": "s",
  "7": "t",
  "8": "b",
  "@": "a",
  $: "s",
  "|": "l",
  "!": "i",
};
// A letter next to a leet symbol marks a token worth folding; ordinary prose has almost none.
const LEET_HINT = /[a-z][013457@$|]|[013457@$|][a-z]/g;
const isTokenChar = (c: string | undefined) => c !== undefined && /[a-z0-9@$|!]/.test(c);
const SPACED_HINT = /(?:^|[^a-z])[a-z][ ._*\-/+][a-z][ ._*\-/+][a-z][ ._*\-/+][a-z](?![a-z])/;

function foldIsland(island: string, normalized: boolean): string {
  if (island.length === 1 && island < "\x80") return "";
  return (normalized ? island : island.normalize("NFKC"))
    .replace(INVISIBLE, "")
    .toLowerCase()
    .replace(CONFUSABLE_CHARS, (ch) => CONFUSABLES[ch] ?? ch);
}

/** `normalized`: the text already went through sanitizeText's NFKC, which is not repeated. */
function foldCharacters(input: string, normalized = false): string {
  if (PLAIN_ASCII.test(input)) return input.toLowerCase();
  return input.replace(ISLAND, (island) => foldIsland(island, normalized)).toLowerCase();
}

// In leetspeak every short word is digits only ("4" a, "15" is, "70" to); once mixed tokens are this
// dense (one per 40 characters), standalone digit groups of up to four are read as letters too.
const LEET_DENSITY = 40;
const LEET_ONLY_TOKEN = /(?<![a-z0-9@$|!])[0134578@$]{1,4}(?![a-z0-9@$|])/g;

function foldLeet(text: string): string {
  let out = "";
  let from = 0;
  let tokens = 0;
  LEET_HINT.lastIndex = 0;
  for (let hit = LEET_HINT.exec(text); hit; hit = LEET_HINT.exec(text)) {
    // Expand the hint to its whole token, then continue after it: each character is visited a
    // bounded number of times, so the pass stays linear.
    let start = hit.index;
    while (start > from && isTokenChar(text[start - 1])) start--;
    let end = hit.index + 2;
    while (end < text.length && isTokenChar(text[end])) end++;
    const token = text.slice(start, end);
    const trail = /!+$/.exec(token)?.[0] ?? "";
    let folded = "";
    for (const ch of token.slice(0, token.length - trail.length)) folded += LEET[ch] ?? ch;
    out += text.slice(from, start) + folded + trail;
    from = end;
    tokens++;
    LEET_HINT.lastIndex = end;
  }
  if (from === 0) return text;
  out += text.slice(from);
  if (tokens < 3 || tokens * LEET_DENSITY < text.length) return out;
  return out.replace(LEET_ONLY_TOKEN, (digits) => {
    let folded = "";
    for (const ch of digits) folded += LEET[ch] ?? ch;
    return folded;
  });
}

const isLetter = (c: number) => c >= 97 && c <= 122;
// Space, dot, underscore, asterisk, hyphen, slash, plus: what attackers put between letters ("|" is
// leetspeak for "l" and is folded before this runs).
const isSep = (c: number) => c === 32 || c === 46 || c === 95 || c === 42 || c === 45 || c === 47 || c === 43;
const WIDE_GAP = /(?<![a-z])[a-z] {2,}[a-z](?![a-z])/g;
const SPACE_SPACED = /(?<![a-z])[a-z] [a-z] [a-z](?![a-z])/g;
const OTHER_SPACED = /(?<![a-z])[a-z]([._*\-/+])[a-z]\1[a-z](?![a-z])/g;
const isSingleLetter = (text: string, i: number) =>
  isLetter(text.charCodeAt(i)) && !isLetter(text.charCodeAt(i - 1)) && !isLetter(text.charCodeAt(i + 1));

/**
 * Joins "i g n o r e   a l l" / "i.g.n.o.r.e a.l.l" into words, in one linear pass. A run is single
 * letters with one and the same separator between them, so a different separator ("." inside words,
 * " " between them) or a wider gap ("   ") keeps the words apart.
 */
function joinSpacedLetters(text: string): string {
  if (!SPACED_HINT.test(text)) return text;
  // When letters are mostly joined by dots (dashes, …), spaces separate the words: "a c.r.i.m.e" is
  // "a crime", not "ac" + ".rime".
  const spaced = text.match(SPACE_SPACED)?.length ?? 0;
  const spacesJoin = spaced > (text.match(OTHER_SPACED)?.length ?? 0);
  // Letters one space apart with hardly any wider gaps run the words together; they are split
  // again against the vocabulary. (A few double spaces are the original text's own.)
  const runTogether = spacesJoin && (text.match(WIDE_GAP)?.length ?? 0) * 10 < spaced;
  let out = "";
  let i = 0;
  const n = text.length;
  while (i < n) {
    const sep = text.charCodeAt(i + 1);
    if (
      !isSingleLetter(text, i) ||
      !isSep(sep) ||
      (sep === 32 && !spacesJoin) ||
      !isSingleLetter(text, i + 2)
    ) {
      out += text[i];
      i++;
      continue;
    }
    let j = i;
    let letters = text[i] ?? "";
    while (text.charCodeAt(j + 1) === sep && isSingleLetter(text, j + 2)) {
      j += 2;
      letters += text[j];
    }
    out += runTogether && sep === 32 && letters.length >= 8 ? segmentWords(letters) : letters;
    i = j + 1;
  }
  // Spaced-out words sit wider apart than the letters ("a l l   r u l e s"); the rules expect one space.
  return out.replace(/ {2,}/g, " ");
}

/** Comment bodies of HTML (<!-- -->) and markdown link-reference comments ([//]: # (...)). */
const MARKDOWN_COMMENT_HINT = /\]:[ \t]{0,8}(?:#|<>)/;

function hiddenComments(text: string): string[] {
  const found: string[] = [];
  // Most texts have neither marker; two substring searches spare them the line-anchored regex.
  const markdown = MARKDOWN_COMMENT_HINT.test(text);
  if (!markdown && !text.includes("<!--")) return found;
  let from = 0;
  // indexOf, not a lazy regex: an unterminated "<!--" repeated n times must stay linear.
  for (;;) {
    const open = text.indexOf("<!--", from);
    if (open < 0) break;
    const close = text.indexOf("-->", open + 4);
    if (close < 0) break;
    found.push(text.slice(open + 4, close));
    from = close + 3;
  }
  if (!markdown) return found;
  for (const m of text.matchAll(/^\[[^\]\n]{0,40}\]:\s{0,8}(?:#|<>)\s{0,8}\(([^)\n]{1,2000})\)/gm)) {
    found.push(m[1] ?? "");
  }
  return found;
}

const BASIC_SELECTORS = /[\ufe00-\ufe0f]{2}/;

/** ASCII hidden in Unicode tag characters, and bytes hidden in runs of variation selectors. */
function smuggledPayloads(text: string): string[] {
  // Tag characters and supplementary selectors are all behind the high surrogate U+DB40; a run
  // of basic selectors starts with one of U+FE00–U+FE0F.
  if (PLAIN_ASCII.test(text) || !(text.includes("\udb40") || BASIC_SELECTORS.test(text))) return [];
  const found: string[] = [];
  const tags = text.match(/[\u{e0020}-\u{e007e}]{2,}/gu) ?? [];
  for (const run of tags) {
    found.push(Array.from(run, (ch) => String.fromCharCode((ch.codePointAt(0) ?? 0) - 0xe0000)).join(""));
  }
  const selectorRuns = text.match(/[\u{fe00}-\u{fe0f}\u{e0100}-\u{e01ef}]{2,}/gu) ?? [];
  for (const run of selectorRuns) {
    const bytes = Array.from(run, (ch) => {
      const cp = ch.codePointAt(0) ?? 0;
      return cp < 0xe0100 ? cp - 0xfe00 : cp - 0xe0100 + 16;
    });
    found.push(Buffer.from(bytes).toString("utf8"));
  }
  return found;
}

function mostlyPrintable(s: string): boolean {
  if (s.length < 4) return false;
  const printable = s.match(/[\x20-\x7e\t\n\r\p{L}]/gu)?.length ?? 0;
  return printable / s.length >= 0.9 && /[a-z]{3}/i.test(s);
}

// rot13 of every ASCII code (letters rotated, the rest kept): a table read per code unit is about
// twice as fast as computing it.
const ROT13_ASCII = Uint16Array.from({ length: 128 }, (_, c) => {
  const base = c >= 65 && c <= 90 ? 65 : c >= 97 && c <= 122 ? 97 : 0;
  return base === 0 ? c : ((c - base + 13) % 26) + base;
});

// Code unit by code unit into a buffer: a replace callback per letter costs ~10x more on the
// 2 KB prompts every call carries.
function rot13(s: string): string {
  const units = new Uint16Array(s.length);
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    units[i] = c < 128 ? (ROT13_ASCII[c] as number) : c;
  }
  return Buffer.from(units.buffer, units.byteOffset, units.byteLength).toString("utf16le");
}

const ROT13_WORDS = disguisedFunctionWords(rot13);

// One pass finds every encoded-looking span; each is then classified. Separate base64, hex and
// percent-escape scans would each cost a full pass over long documents.
const ENCODED_SPAN = /(?:\b|(?=%))[A-Za-z0-9+/=_%-]{16,}/g;
const ESCAPED_HEX_SPAN = /(?:\\x[0-9a-fA-F]{2}){4,}/g;
const HEX = /^(?:0x)?[0-9a-fA-F]+$|^(?:\\x[0-9a-fA-F]{2})+$/;
const URL_ESCAPED = /%[0-9a-fA-F]{2}/;
const BASE64ISH = /^[A-Za-z0-9+/_-]+={0,2}$/;

function decodeSpan(raw: string): string | undefined {
  const span = raw.slice(0, 65536);
  if (HEX.test(span)) return Buffer.from(span.replace(/\\x|^0x/g, ""), "hex").toString("utf8");
  if (URL_ESCAPED.test(span)) {
    try {
      return decodeURIComponent(span);
    } catch {
      // A malformed escape sequence is just text; nothing is hidden in it.
      return undefined;
    }
  }
  // Ordinary long words and paths are base64-shaped too; payloads mix digits or cases.
  if (BASE64ISH.test(span) && (/[0-9+=]/.test(span) || /[a-z][A-Z].*[A-Z][a-z]/.test(span))) {
    return Buffer.from(span, "base64").toString("utf8");
  }
  return undefined;
}

const ENCODED_CHAR = new Uint8Array(128);
for (const c of "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=_%-")
  ENCODED_CHAR[c.charCodeAt(0)] = 1;

/**
 * Whether text holds 16 characters of ENCODED_SPAN's class in a row, which the pattern needs: a
 * loop over the codes is several times cheaper than the pattern's scan of prose (~7 % of
 * detection on a 2 KB document), and most text has no such run.
 */
function mayHoldEncodedSpan(text: string): boolean {
  let run = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 128 && ENCODED_CHAR[c] === 1) {
      if (++run >= 16) return true;
    } else run = 0;
  }
  return false;
}

/** One level of decoding of every encoded-looking span, bounded by a shared character budget. */
function decodeOnce(text: string, budget: { left: number }): string[] {
  const out: string[] = [];
  const spans = mayHoldEncodedSpan(text) ? text.matchAll(ENCODED_SPAN) : [];
  const escaped = text.includes("\\x") ? text.matchAll(ESCAPED_HEX_SPAN) : [];
  for (const m of [...spans, ...escaped]) {
    if (budget.left <= 0) break;
    const decoded = decodeSpan(m[0]);
    if (decoded === undefined || !mostlyPrintable(decoded)) continue;
    const clipped = decoded.slice(0, budget.left);
    budget.left -= clipped.length;
    out.push(clipped);
  }
  return out;
}

/**
 * `input` is the text as received (hidden payloads are read from it); `sanitized` is its
 * sanitizeText() output, already NFKC-normalized, from which the folded view is built.
 */
/** Hidden comment bodies and smuggled (tag / variation-selector) payloads of the received text. */
export function hiddenPayloadViews(input: string): View[] {
  const views: View[] = [];
  for (const body of hiddenComments(input))
    views.push({ name: "hidden_comment", text: foldCharacters(body) });
  for (const payload of smuggledPayloads(input))
    views.push({ name: "smuggled", text: foldCharacters(payload) });
  return views;
}

/** Right-to-left-override spans in display order, else the whole text backwards when it reads backwards. */
function reversedViews(input: string, folded: string): View[] {
  const display = bidiDisplayOrder(input);
  if (display !== undefined) return [{ name: "reversed", text: foldCharacters(display) }];
  return looksReversed(folded) ? [{ name: "reversed", text: reverseString(folded) }] : [];
}

export function buildViews(input: string, sanitized: string, options: ViewOptions = {}): View[] {
  const maxDecoded = options.maxDecodedChars ?? 65536;
  const maxDepth = options.maxDepth ?? 2;
  const folded = foldCharacters(sanitized, true);
  const views: View[] = [{ name: "folded", text: folded }];
  // Leet and letter-spacing folds are a separate view: they would mangle template tokens
  // ("<|im_start|>") that the folded view must still show verbatim.
  const joined = joinSpacedLetters(foldLeet(folded));
  const disguises = options.disguises !== false;
  const deobfuscated = (disguises && unscrambleWords(joined)) || joined;
  if (deobfuscated !== folded) views.push({ name: "deobfuscated", text: deobfuscated });
  if (disguises) views.push(...reversedViews(input, folded));

  if (options.payloads !== false) views.push(...hiddenPayloadViews(input));

  const budget = { left: maxDecoded };
  let frontier = [input];
  for (let depth = 0; depth < maxDepth && frontier.length > 0 && budget.left > 0; depth++) {
    const next: string[] = [];
    for (const t of frontier) next.push(...decodeOnce(t, budget));
    for (const d of next) views.push({ name: "decoded", text: foldLeet(foldCharacters(d)) });
    frontier = next;
  }
  // rot13 of a short prompt is cheap; longer texts are rotated only when they mention it or read
  // as rot13 English.
  if (
    input.length <= (options.rot13Below ?? 4096) ||
    (input.length <= maxDecoded &&
      (/\brot-?13\b/i.test(input) || (disguises && readsDisguised(folded, ROT13_WORDS))))
  ) {
    views.push({ name: "decoded", text: foldCharacters(rot13(input)) });
  }
  return views;
}
