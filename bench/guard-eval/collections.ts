// The two labelled collections (prompt-guard-dev and prompt-guard-extra) as prompt rows for the
// obfuscation benchmark: attacks (extra's synthetic compositions left out), benign prompts and hard
// negatives. Both come from data.ts's loaders; documents are left out.

import { type EvalRow, loadExtraRows, loadRows } from "./data.ts";

export interface PromptRow {
  id: string;
  text: string;
  family: string;
}

export interface Collection {
  name: string;
  attacks: PromptRow[];
  benign: PromptRow[];
  hardNegatives: PromptRow[];
}

function collection(name: string, rows: EvalRow[]): Collection {
  const rowsOf = (set: EvalRow["set"]) =>
    rows
      .filter((r) => r.set === set && !r.synthetic)
      .map((r) => ({ id: r.id, text: r.text, family: r.family }));
  return {
    name,
    attacks: rowsOf("attack"),
    benign: rowsOf("benign"),
    hardNegatives: rowsOf("hard_negative"),
  };
}

export function loadCollections(): Collection[] {
  return [collection("dev", loadRows()), collection("extra", loadExtraRows())];
}
