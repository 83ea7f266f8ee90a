// Throughput of the guard on plain-text documents (one core): MB/s at 1 MB and 10 MB and the
// linearity ratio. Run alone with `npx tsx bench/guard-eval/speed.ts`; run.ts records it.

import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { detectInjection } from "../../server/guard/detect.ts";

export interface SpeedSample {
  bytes: number;
  ms: number;
  mbPerSec: number;
}

export interface SpeedResult {
  oneMB: SpeedSample;
  tenMB: SpeedSample;
  /** Time for 10× the input divided by time for 1× (target ≤ 12). */
  linearityRatio: number;
}

const here = dirname(fileURLToPath(import.meta.url));
const dataDir = join(here, "../../../shared/data/prompt-guard-dev");

/** Plain-text documents: the clean document bodies of the dev set, repeated to the size asked. */
function corpus(bytes: number): string {
  const docs = readFileSync(join(dataDir, "documents_clean.jsonl"), "utf8")
    .split("\n")
    .filter((l) => l.trim() !== "")
    .map((l) => (JSON.parse(l) as { text: string }).text)
    .join("\n\n");
  let text = "";
  while (text.length < bytes) text += `${docs}\n\n`;
  return text.slice(0, bytes);
}

function measure(text: string, runs: number): SpeedSample {
  let best = Number.POSITIVE_INFINITY;
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    detectInjection(text, { kind: "document" });
    best = Math.min(best, performance.now() - t0);
  }
  const bytes = Buffer.byteLength(text);
  return { bytes, ms: best, mbPerSec: bytes / 1e6 / (best / 1000) };
}

export function measureSpeed(): SpeedResult {
  const small = corpus(1_000_000);
  const large = corpus(10_000_000);
  // Warm-up so the JIT has compiled every path before the clock starts.
  for (let i = 0; i < 5; i++) detectInjection(small, { kind: "document" });
  const oneMB = measure(small, 7);
  const tenMB = measure(large, 3);
  return { oneMB, tenMB, linearityRatio: tenMB.ms / oneMB.ms };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const r = measureSpeed();
  const line = (s: SpeedSample) =>
    `${(s.bytes / 1e6).toFixed(0)} MB: ${s.ms.toFixed(1)} ms → ${s.mbPerSec.toFixed(1)} MB/s`;
  console.log(line(r.oneMB));
  console.log(line(r.tenMB));
  console.log(`linearity (10× input time / 1× time): ${r.linearityRatio.toFixed(2)}`);
}
