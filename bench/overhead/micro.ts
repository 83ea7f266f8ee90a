// In-process microbenchmark of the pipeline's own CPU work per call, on a 2 KB prompt:
// warm-cache authenticate, scope checks, guard (sanitize + detect) and audit redaction; and, as
// separate figures, what summarizeDoc does besides: the document screen and the output check.
import { createDatabase, migrateDatabase } from "../../db/index.ts";
import { framePrompt, outputCheckOptions, SUMMARIZE_SYSTEM_PROMPT } from "../../server/ai/prompts.ts";
import { authenticate } from "../../server/auth/authenticate.ts";
import { missingScopes } from "../../server/auth/scopes.ts";
import { createContext } from "../../server/context.ts";
import { detectInjection } from "../../server/guard/detect.ts";
import { checkOutput } from "../../server/guard/output.ts";
import { redactSecrets } from "../../server/guard/redact.ts";
import { sanitizeText } from "../../server/guard/sanitize.ts";
import { screenUntrusted } from "../../server/guard/untrusted.ts";
import { extractiveSummary } from "../../server/model/offline.ts";
import { createTestKey, requestInfo } from "../../tests/helpers/services.ts";
import { percentile } from "./load.ts";
import { BENCH_TEXT } from "./model.ts";
import { openBenchServices } from "./services.ts";

export interface MicroResult {
  iterations: number;
  promptBytes: number;
  /** p50/p99 in ms of the whole per-call step, and p50 of each part. */
  p50: number;
  p99: number;
  parts: Record<string, number>;
  /** p50 in ms of summarizeDoc's other guard steps on the same text (not in p50 above). */
  summarize: { screenDocument: number; checkOutput: number };
}

export async function runMicro(iterations: number): Promise<MicroResult> {
  const database = await createDatabase({ kind: "pglite", dataDir: null });
  await migrateDatabase(database);
  const { config, services } = await openBenchServices(database);
  const created = await createTestKey(services, {
    name: "bench",
    scopes: ["endpoint:summarize-doc", "prompt-processing"],
  });
  const ctx = createContext(
    services,
    requestInfo({ clientAddress: "127.0.0.1", authorization: `Bearer ${created.plaintext}` }),
  );
  const prompt = BENCH_TEXT;
  const names = ["authenticate", "scopes", "sanitize", "detect", "redact"] as const;
  const parts: Record<(typeof names)[number], number[]> = {
    authenticate: [],
    scopes: [],
    sanitize: [],
    detect: [],
    redact: [],
  };
  const totals: number[] = [];
  const documentScreens: number[] = [];
  const outputChecks: number[] = [];
  // The answer the benchmark's model gives (bench/overhead/model.ts), checked as summarizeDoc does.
  const answer = extractiveSummary(prompt, 40);
  // The first quarter warms the key cache and the JIT; only the rest is kept.
  const warmup = Math.floor(iterations / 4);
  for (let i = 0; i < warmup + iterations; i++) {
    const t0 = performance.now();
    const principal = await authenticate(ctx);
    const t1 = performance.now();
    if (missingScopes(principal.scopes, ["endpoint:summarize-doc", "prompt-processing"]).length > 0)
      throw new Error("bench key lacks its scopes");
    const t2 = performance.now();
    const sanitized = sanitizeText(prompt);
    const t3 = performance.now();
    detectInjection(prompt, { kind: "prompt", thresholds: config.guard });
    const t4 = performance.now();
    redactSecrets(sanitized.text);
    const t5 = performance.now();
    screenUntrusted(prompt, { thresholds: config.guard });
    const t6 = performance.now();
    checkOutput(answer, outputCheckOptions(framePrompt(SUMMARIZE_SYSTEM_PROMPT), config.outputLinkHosts));
    const t7 = performance.now();
    if (i < warmup) continue;
    documentScreens.push(t6 - t5);
    outputChecks.push(t7 - t6);
    totals.push(t5 - t0);
    parts.authenticate.push(t1 - t0);
    parts.scopes.push(t2 - t1);
    parts.sanitize.push(t3 - t2);
    parts.detect.push(t4 - t3);
    parts.redact.push(t5 - t4);
  }
  await services.close();
  await database.close();
  totals.sort((a, b) => a - b);
  const p50s: Record<string, number> = {};
  for (const name of names)
    p50s[name] = percentile(
      parts[name].sort((a, b) => a - b),
      50,
    );
  return {
    iterations,
    promptBytes: Buffer.byteLength(prompt),
    p50: percentile(totals, 50),
    p99: percentile(totals, 99),
    parts: p50s,
    summarize: {
      screenDocument: percentile(
        documentScreens.sort((a, b) => a - b),
        50,
      ),
      checkOutput: percentile(
        outputChecks.sort((a, b) => a - b),
        50,
      ),
    },
  };
}
