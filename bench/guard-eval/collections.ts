// The two labelled collections (prompt-guard-dev and prompt-guard-extra) as prompt rows for the
// obfuscation benchmark: attacks (extra's synthetic compositions left out), benign prompts and hard negatives.

import { readFileSync } from "node:fs";
import { join } from "node:path";
import { DATA_DIR, loadRows } from "./data.ts";

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

interface ExtraRow {
  id: string;
  text: string;
  category: string;
  synthetic?: boolean;
}

const EXTRA_DIR = join(DATA_DIR, "../prompt-guard-extra");
const family = (category: string) => category.split(":")[0] ?? category;

function loadExtra(file: string): ExtraRow[] {
  return readFileSync(join(EXTRA_DIR, file), "utf8")
    .split("\n")
    .filter((l) => l.trim() !== "")
    .map((l) => JSON.parse(l) as ExtraRow);
}

export function loadCollections(): Collection[] {
  const dev = loadRows();
  const rowsOf = (set: string) =>
    dev.filter((r) => r.set === set).map((r) => ({ id: r.id, text: r.text, family: r.family }));
  const toRow = (r: ExtraRow) => ({ id: r.id, text: r.text, family: family(r.category) });
  const extraBenign = loadExtra("benign.jsonl");
  return [
    {
      name: "dev",
      attacks: rowsOf("attack"),
      benign: rowsOf("benign"),
      hardNegatives: rowsOf("hard_negative"),
    },
    {
      name: "extra",
      attacks: loadExtra("attacks.jsonl")
        .filter((r) => r.synthetic !== true)
        .map(toRow),
      benign: extraBenign.filter((r) => family(r.category) !== "hard_negative").map(toRow),
      hardNegatives: extraBenign.filter((r) => family(r.category) === "hard_negative").map(toRow),
    },
  ];
}
