// The labelled dev set (../shared/data/prompt-guard-dev) as evaluation rows: which set each row
// belongs to, its attack family, and the group used for cross-validation folds.

import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export type EvalSet = "attack" | "benign" | "hard_negative" | "clean_document" | "injected_document";

export interface EvalRow {
  id: string;
  text: string;
  source: string;
  category: string;
  set: EvalSet;
  kind: "prompt" | "document";
  /** Attack family (category before ":"; families under 10 rows pooled as "other"), else the category. */
  family: string;
  /** Label for training: 1 for attacks and documents with an embedded instruction. */
  label: 0 | 1;
  /** CV group: the source, with a document and its injected twin in one group. */
  group: string;
}

interface RawRow {
  id: string;
  text: string;
  source: string;
  category: string;
}

const here = dirname(fileURLToPath(import.meta.url));
export const DATA_DIR = join(here, "../../../shared/data/prompt-guard-dev");

function load(file: string): RawRow[] {
  return readFileSync(join(DATA_DIR, file), "utf8")
    .split("\n")
    .filter((l) => l.trim() !== "")
    .map((l) => JSON.parse(l) as RawRow);
}

const head = (category: string) => category.split(":")[0] ?? category;

export function loadRows(): EvalRow[] {
  const attacks = load("injections.jsonl");
  const familySize = new Map<string, number>();
  for (const r of attacks) familySize.set(head(r.category), (familySize.get(head(r.category)) ?? 0) + 1);
  const rows: EvalRow[] = [];
  const add = (raw: RawRow[], set: EvalSet, kind: EvalRow["kind"], family: (r: RawRow) => string) => {
    for (const r of raw) {
      rows.push({
        ...r,
        set,
        kind,
        family: family(r),
        label: set === "attack" || set === "injected_document" ? 1 : 0,
        // An injected document's source is "<document source> + <attack source>": grouping by the
        // document source keeps each document and its clean twin on the same side of a split.
        group: r.source.split(" + ")[0] ?? r.source,
      });
    }
  };
  add(attacks, "attack", "prompt", (r) =>
    (familySize.get(head(r.category)) ?? 0) < 10 ? "other" : head(r.category),
  );
  const benign = load("benign.jsonl");
  add(
    benign.filter((r) => !r.category.startsWith("notinject")),
    "benign",
    "prompt",
    (r) => head(r.category),
  );
  add(
    benign.filter((r) => r.category.startsWith("notinject")),
    "hard_negative",
    "prompt",
    (r) => head(r.category),
  );
  add(load("documents_clean.jsonl"), "clean_document", "document", (r) => head(r.category));
  add(load("documents_with_injections.jsonl"), "injected_document", "document", (r) => head(r.category));
  return rows;
}

/**
 * Groups dealt to k folds, largest first into the lightest fold, so no group is on both sides
 * of a split. Deterministic: ties broken by name.
 */
export function groupedFolds(rows: EvalRow[], k: number): Map<string, number> {
  const sizes = new Map<string, number>();
  for (const r of rows) sizes.set(r.group, (sizes.get(r.group) ?? 0) + 1);
  const load = new Array<number>(k).fill(0);
  const fold = new Map<string, number>();
  for (const [group, size] of [...sizes.entries()].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))) {
    const lightest = load.indexOf(Math.min(...load));
    fold.set(group, lightest);
    load[lightest] = (load[lightest] ?? 0) + size;
  }
  return fold;
}

/** 95% Wilson score interval for k successes out of n. */
export function wilson(k: number, n: number): [number, number] {
  if (n === 0) return [0, 1];
  const z = 1.959964;
  const p = k / n;
  const denom = 1 + (z * z) / n;
  const centre = (p + (z * z) / (2 * n)) / denom;
  const half = (z * Math.sqrt((p * (1 - p)) / n + (z * z) / (4 * n * n))) / denom;
  return [Math.max(0, centre - half), Math.min(1, centre + half)];
}
