// What every rule family returns and the choices it is called with: its own module, so the
// families (framing, structure, multilingual, suffix) and rules.ts that runs them import it
// instead of each other.

export type TextKind = "prompt" | "document";

/**
 * Which rules run, by the data they were written from: "dev" leaves out the changes written from
 * prompt-guard-extra (bench/guard-eval/changes.md), so the bench can score dev-written rules on extra.
 * Everything else uses "all".
 */
export type RuleSet = "all" | "dev";

export interface RuleHit {
  flag: string;
  weight: number;
}
