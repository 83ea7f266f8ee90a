// The two labelled collections (../shared/data/prompt-guard-dev and prompt-guard-extra) as evaluation
// rows: which set each row belongs to, its attack family, its source repository and CV group.

import { existsSync, readFileSync } from "node:fs";
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
  /** Which collection the row is from. */
  collection: Collection;
  /** The public repository the row came from ("owner/repo"): the unit of leave-one-source-out. */
  repo: string;
  /** A composed row (extra's wrappers written by the data's authors): never in a headline number. */
  synthetic: boolean;
}

export type Collection = "dev" | "extra";

interface RawRow {
  id: string;
  text: string;
  source: string;
  category: string;
  synthetic?: boolean;
}

const here = dirname(fileURLToPath(import.meta.url));
// The data sits next to the project (`../shared/data`); a git worktree one level deeper finds it
// one directory further up.
const DATA_ROOT =
  [join(here, "../../../shared/data"), join(here, "../../../../shared/data")].find((d) => existsSync(d)) ??
  join(here, "../../../shared/data");
export const DATA_DIR = join(DATA_ROOT, "prompt-guard-dev");
const EXTRA_DIR = join(DATA_ROOT, "prompt-guard-extra");

function load(file: string, dir = DATA_DIR): RawRow[] {
  return readFileSync(join(dir, file), "utf8")
    .split("\n")
    .filter((l) => l.trim() !== "")
    .map((l) => JSON.parse(l) as RawRow);
}

const head = (category: string) => category.split(":")[0] ?? category;
const repoOf = (source: string) => source.split(":")[0] ?? source;

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
        collection: "dev",
        repo: repoOf(r.source),
        synthetic: r.synthetic === true,
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
 * The extra collection: every family kept as its own (its smallest families still have 8+ real
 * rows); benign rows whose category starts with "hard_negative" are the hard negatives. It has no
 * clean documents. Rows are grouped by source repository.
 */
export function loadExtraRows(): EvalRow[] {
  const rows: EvalRow[] = [];
  const add = (raw: RawRow[], set: EvalSet, kind: EvalRow["kind"]) => {
    for (const r of raw) {
      rows.push({
        ...r,
        set,
        kind,
        family: head(r.category),
        label: set === "attack" || set === "injected_document" ? 1 : 0,
        group: repoOf(r.source),
        collection: "extra",
        repo: repoOf(r.source),
        synthetic: r.synthetic === true,
      });
    }
  };
  add(load("attacks.jsonl", EXTRA_DIR), "attack", "prompt");
  const benign = load("benign.jsonl", EXTRA_DIR);
  add(
    benign.filter((r) => !r.category.startsWith("hard_negative")),
    "benign",
    "prompt",
  );
  add(
    benign.filter((r) => r.category.startsWith("hard_negative")),
    "hard_negative",
    "prompt",
  );
  add(load("documents_with_injections.jsonl", EXTRA_DIR), "injected_document", "document");
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
