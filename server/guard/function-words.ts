// Whether a text is English under a letter-level disguise (written backwards, rot13): English
// function words in disguise outnumber plain ones. Two regular-expression scans of the text.

const FUNCTION_WORDS =
  "the and you your to of is are in for that this with be not it on all as or me my".split(" ");

const alternation = (words: string[]) => new RegExp(`\\b(?:${words.join("|")})\\b`, "g");
const PLAIN = alternation(FUNCTION_WORDS);

/** The function words under a disguise, less those that are themselves plain function words or
 * unchanged ("a", "did", "on"/"no"), which say nothing. */
export function disguisedFunctionWords(disguise: (word: string) => string): RegExp {
  return alternation(FUNCTION_WORDS.map(disguise).filter((w) => !FUNCTION_WORDS.includes(w)));
}

/** Whether a lower-case text has at least two disguised function words and more than plain ones. */
export function readsDisguised(text: string, disguised: RegExp): boolean {
  const hidden = text.match(disguised)?.length ?? 0;
  if (hidden < 2) return false;
  return hidden > (text.match(PLAIN)?.length ?? 0);
}
