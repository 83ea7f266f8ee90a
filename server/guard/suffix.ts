// Detects optimizer-generated adversarial suffixes (GCG-style): a tail of tokens that no person
// writes — symbol-laden fragments, case flips inside words, bracket soup — after a fluent request.

import type { RuleHit } from "./rules.ts";

const TAIL_TOKENS = 32;
const SYMBOLS = /[[\]{}()<>$\\^~|=*#@`"';:!?%+]/g;

function isUnnatural(token: string): boolean {
  const letters = token.match(/[A-Za-z]/g)?.length ?? 0;
  const symbols = token.match(SYMBOLS)?.length ?? 0;
  // Letters glued to two or more symbols ("Here<=", "({\\For[", "]$.") — not prose punctuation.
  if (letters > 0 && symbols >= 2) return true;
  // A run of only symbols longer than ordinary punctuation ("[[", ")}}", "(!").
  if (letters === 0 && symbols >= 2 && !/^[.!?,;:'"-]+$/.test(token)) return true;
  // A lower-to-upper flip inside a word that is not CamelCase code ("AstronomVor", "whoNOT").
  return (
    /^[A-Za-z]+$/.test(token) && /[a-z]{3}[A-Z]/.test(token) && !/^[A-Z][a-z]+(?:[A-Z][a-z]+)+$/.test(token)
  );
}

export function adversarialSuffix(text: string): RuleHit[] {
  // Only the tail is inspected: the attack appends the suffix to an otherwise ordinary request.
  const tokens = text.slice(-2000).split(/\s+/).filter(Boolean).slice(-TAIL_TOKENS);
  if (tokens.length < 10) return [];
  const unnatural = tokens.filter(isUnnatural).length;
  const ratio = unnatural / tokens.length;
  // Code is full of symbols too, but then nearly every line has them; a suffix follows prose.
  const head = text.slice(0, Math.max(0, text.length - 2000)) || text.slice(0, 400);
  const proseHead = /^[A-Za-z][^{};<>$\\]{30,}/.test(head);
  if (!proseHead) return [];
  if (ratio >= 0.25 && unnatural >= 5) return [{ flag: "adversarial_suffix", weight: 0.75 }];
  if (ratio >= 0.15 && unnatural >= 4) return [{ flag: "adversarial_suffix", weight: 0.5 }];
  return [];
}
