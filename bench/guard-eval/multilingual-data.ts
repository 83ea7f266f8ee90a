// The multilingual test sentences (bench/guard-eval/data/multilingual.jsonl) and their fixed split:
// sha1(text) decides the half, so the held-back half was set before any multilingual rule was written.

import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export interface MultilingualRow {
  id: string;
  lang: "fr" | "de" | "es" | "pt" | "it";
  label: "attack" | "benign";
  text: string;
  half: "development" | "held_back";
}

const FILE = join(dirname(fileURLToPath(import.meta.url)), "data/multilingual.jsonl");

export function halfOf(text: string): MultilingualRow["half"] {
  const h = Number.parseInt(createHash("sha1").update(text).digest("hex").slice(0, 8), 16);
  return h % 2 === 0 ? "development" : "held_back";
}

export function loadMultilingual(): MultilingualRow[] {
  return readFileSync(FILE, "utf8")
    .split("\n")
    .filter((l) => l.trim() !== "")
    .map((l) => {
      const row = JSON.parse(l) as Omit<MultilingualRow, "half">;
      return { ...row, half: halfOf(row.text) };
    });
}
