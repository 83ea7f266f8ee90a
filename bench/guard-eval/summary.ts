// Rates with 95% Wilson intervals over evaluation rows: per-family recall, macro recall and the
// false-positive sets, as numbers and as Markdown table lines (shared by run.ts and cross.ts).

import { type EvalRow, type EvalSet, wilson } from "./data.ts";

export interface Rate {
  k: number;
  n: number;
  rate: number;
  ci: [number, number];
}

export interface Summary {
  families: Record<string, Rate>;
  macroRecall: number;
  benignFp: Rate;
  hardNegativeFp: Rate;
  cleanDocumentFp: Rate;
  injectedDocumentRecall: Rate;
}

export function rate(k: number, n: number): Rate {
  return { k, n, rate: n === 0 ? 0 : k / n, ci: wilson(k, n) };
}

export function pct(x: number): string {
  return `${(x * 100).toFixed(1)}%`;
}

export function fmt(r: Rate): string {
  return r.n === 0 ? "— (no rows)" : `${pct(r.rate)} (${r.k}/${r.n}, 95% CI ${pct(r.ci[0])}–${pct(r.ci[1])})`;
}

/**
 * Rates over the rows for which `positive` is defined (the prompt model skips documents). Synthetic
 * rows never count: they are composed by the data's authors, not found in the wild.
 */
export function summarize(
  rows: EvalRow[],
  positive: (row: EvalRow, i: number) => boolean | undefined,
): Summary {
  const count = (pred: (r: EvalRow) => boolean) => {
    let k = 0;
    let n = 0;
    rows.forEach((r, i) => {
      if (r.synthetic || !pred(r)) return;
      const p = positive(r, i);
      if (p === undefined) return;
      n++;
      if (p) k++;
    });
    return rate(k, n);
  };
  const families: Record<string, Rate> = {};
  for (const f of [
    ...new Set(rows.filter((r) => r.set === "attack" && !r.synthetic).map((r) => r.family)),
  ].sort()) {
    const r = count((r) => r.set === "attack" && r.family === f);
    if (r.n > 0) families[f] = r;
  }
  const recalls = Object.values(families)
    .filter((r) => r.n > 0)
    .map((r) => r.rate);
  const inSet = (set: EvalSet) => count((r) => r.set === set);
  return {
    families,
    macroRecall: recalls.reduce((a, b) => a + b, 0) / Math.max(1, recalls.length),
    benignFp: inSet("benign"),
    hardNegativeFp: inSet("hard_negative"),
    cleanDocumentFp: inSet("clean_document"),
    injectedDocumentRecall: inSet("injected_document"),
  };
}

/** Bootstrap-free interval for a macro average: the mean of the per-family Wilson bounds. */
export function macroInterval(s: Summary): [number, number] {
  const fams = Object.values(s.families).filter((r) => r.n > 0);
  const lo = fams.reduce((a, r) => a + r.ci[0], 0) / Math.max(1, fams.length);
  const hi = fams.reduce((a, r) => a + r.ci[1], 0) / Math.max(1, fams.length);
  return [lo, hi];
}

export function table(s: Summary, documents = true): string[] {
  const [lo, hi] = macroInterval(s);
  return [
    "| measure | value |",
    "| --- | --- |",
    ...Object.entries(s.families).map(([f, r]) => `| recall \`${f}\` | ${fmt(r)} |`),
    `| **macro recall** (mean over families) | **${pct(s.macroRecall)}** (mean of family CI bounds ${pct(lo)}–${pct(hi)}) |`,
    `| FP benign prompts | ${fmt(s.benignFp)} |`,
    `| FP hard negatives | ${fmt(s.hardNegativeFp)} |`,
    ...(documents
      ? [
          `| FP clean documents | ${fmt(s.cleanDocumentFp)} |`,
          `| embedded-instruction documents caught | ${fmt(s.injectedDocumentRecall)} |`,
        ]
      : []),
  ];
}
