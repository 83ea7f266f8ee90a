// Detects optimizer-generated adversarial suffixes (GCG-style): a tail of tokens that no person
// writes — symbols glued inside words, case flips, bracket soup — after a fluent request.

import type { RuleHit, RuleSet } from "./rule-hit.ts";

const TAIL_TOKENS = 20;
const SYMBOLS = /[[\]{}()<>$\\^~|=*#@`"';:!?%+]/g;
// A symbol sandwiched between letters ("dep=`only", "Here(!is") — prose puts punctuation at word edges.
const INNER_SYMBOL = /[A-Za-z][[\]{}()<>$\\^~|=*#`";!?%+]+[A-Za-z]/;
// A word opened by a symbol prose never opens a word with ("!Mal", "\\in", "{tikz").
const ODD_OPENER = /^[!?\\{}[\]<>$#=|~^`][A-Za-z]/;
// Imperative openings of a request; the suffix is appended to one.
const REQUEST_HEAD =
  /^\s{0,4}(?:write|explain|provide|create|describe|design|draft|give|generate|develop|list|outline|tell|show|teach|compose|produce|suggest|offer|help)\b/i;
// A request in prose: a letter, then a line of text without code punctuation.
const PROSE_HEAD = /^\s{0,4}[A-Za-z][^{};<>$\\\n]{30,}/;
const HARMFUL =
  /\b(?:illegal(?:ly)?|steal|hack|exploit|phishing|fraud|counterfeit|weapon|bomb|explosive|drug|launder|without getting caught|unauthori[sz]ed|malware|ransomware|keylogger|defamatory|misinformation|fake|scam|traffick|poison|harass|stalk|extort|blackmail|propaganda|racist|explicit|porn|cheat|torture|enslave|forge|pirat|extremis|terroris|suicide|self-harm|revenge)/i;

function isUnnatural(token: string): boolean {
  const letters = token.match(/[A-Za-z]/g)?.length ?? 0;
  const symbols = token.match(SYMBOLS)?.length ?? 0;
  // Letters glued to two or more symbols ("Here<=", "({\\For[", "]$.") — not prose punctuation.
  if (letters > 0 && symbols >= 2) return true;
  // A run of only symbols longer than ordinary punctuation ("[[", ")}}", "(!").
  if (letters === 0 && symbols >= 2 && !/^[.!?,;:'"-]+$/.test(token)) return true;
  if (INNER_SYMBOL.test(token) || ODD_OPENER.test(token)) return true;
  // A lower-to-upper flip inside a word that is not CamelCase code ("AstronomVor", "whoNOT").
  return (
    /^[A-Za-z]+$/.test(token) && /[a-z]{2}[A-Z]/.test(token) && !/^[A-Z][a-z]+(?:[A-Z][a-z]+)+$/.test(token)
  );
}

// Characters of a random suffix that links, paths, numbers and prose punctuation rarely use.
const NOISE_SYMBOLS = /[[\]{}()<>`~^|\\"'!*$;,@#%&=+?]/g;

/**
 * A short random suffix: the last few whitespace-separated tokens are character soup ("[3rG`<>a#7Z}(iH*")
 * — several distinct symbols mixed with letters or digits, none of it a word. Optimizers that sample
 * characters rather than tokens make suffixes too short for the token-ratio test below.
 */
function characterSoupTail(text: string): boolean {
  const tokens = text.slice(-200).split(/\s+/).filter(Boolean);
  let soup = "";
  for (let k = tokens.length - 1; k >= Math.max(0, tokens.length - 4); k--) {
    const t = tokens[k] ?? "";
    const symbols = t.match(NOISE_SYMBOLS)?.length ?? 0;
    if (symbols === 0 || /^[A-Za-z]+[.,!?:;'")\]]{0,3}$/.test(t)) break;
    soup = t + soup;
  }
  if (soup.length < 12) return false;
  const distinct = new Set(soup.match(NOISE_SYMBOLS) ?? []).size;
  const classes = (/[a-z]/.test(soup) ? 1 : 0) + (/[A-Z]/.test(soup) ? 1 : 0) + (/[0-9]/.test(soup) ? 1 : 0);
  return distinct >= 4 && classes >= 2;
}

export function adversarialSuffix(text: string, ruleSet: RuleSet = "all"): RuleHit[] {
  // A suffix is one run-on line; a multi-line tail is code or data pasted after a question.
  if (text.slice(-400).includes("\n")) return [];
  // Code is full of symbols too, but then nearly every line has them; a suffix follows prose.
  const head = text.slice(0, 400);
  if (!PROSE_HEAD.test(head)) return [];
  // The character-soup test was written from prompt-guard-extra (bench/guard-eval/changes.md #5).
  const soup = ruleSet === "all" && characterSoupTail(text);
  // Only the tail is inspected: the attack appends the suffix to an otherwise ordinary request.
  const tokens = text.slice(-1500).split(/\s+/).filter(Boolean).slice(-TAIL_TOKENS);
  if (tokens.length < 10) return soup ? [{ flag: "adversarial_suffix", weight: 0.55 }] : [];
  const unnatural = tokens.filter(isUnnatural).length;
  const ratio = unnatural / tokens.length;
  const request = REQUEST_HEAD.test(head);
  const harmful = HARMFUL.test(text.slice(0, Math.max(200, text.length - 1500)));
  if (ratio >= 0.3 && unnatural >= 5) return [{ flag: "adversarial_suffix", weight: 0.75 }];
  if (request && harmful && unnatural >= 2) return [{ flag: "adversarial_suffix", weight: 0.6 }];
  if (ratio >= 0.2 && unnatural >= 4) return [{ flag: "adversarial_suffix", weight: 0.5 }];
  if (soup) return [{ flag: "adversarial_suffix", weight: 0.55 }];
  return [];
}
