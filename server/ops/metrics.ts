// Prometheus metrics (prom-client), one registry per server. Every label takes its value from a
// closed set — the router's procedure names, the reason catalogue, fixed enums — and anything
// else becomes `unknown`/`other`, so no request can add a series or put its text on /metrics.
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";
import type { AuditOutcome, AuditRecord } from "../audit/record.ts";
import { REASONS } from "../errors.ts";

export interface MetricSources {
  auditQueueDepth(): number;
  keyCache(): { hits: number; misses: number };
  /** The router's procedure paths: the only values the `procedure` label takes (else `unknown`). */
  procedures: readonly string[];
}

const OUTCOMES: ReadonlySet<string> = new Set<AuditOutcome>(["ok", "denied", "rejected", "error"]);
const KNOWN_REASONS: ReadonlySet<string> = new Set(REASONS);
const LIMIT_REASONS: ReadonlySet<string> = new Set(["rate_limited", "budget_exhausted", "auth_throttled"]);
// Guard flags are the server's own names, but spread over many rules: the label admits the
// flag-name shape, and at most this many distinct flags (the rest count as `other`).
const FLAG_SHAPE = /^[a-z][a-z0-9_:]{0,47}$/;
const MAX_FLAG_LABELS = 64;

// Latency buckets in seconds, from sub-millisecond pipeline stages to slow model calls.
const BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

export type Stage = "authenticate" | "admit" | "model" | "audit";

export class Metrics {
  readonly registry = new Registry();
  private readonly calls: Counter<"procedure" | "outcome" | "reason">;
  private readonly callSeconds: Histogram<"procedure">;
  private readonly stageSeconds: Histogram<"stage">;
  private readonly modelTokens: Counter<"direction">;
  private readonly guardVerdicts: Counter<"flag">;
  private readonly limitRefusals: Counter<"reason">;

  private readonly procedures: ReadonlySet<string>;
  private readonly flagLabels = new Set<string>();

  constructor(sources: MetricSources) {
    this.procedures = new Set(sources.procedures);
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry, prefix: "scopegate_" });
    this.calls = new Counter({
      name: "scopegate_calls_total",
      help: "Procedure calls by outcome and reason (one per final audit record).",
      labelNames: ["procedure", "outcome", "reason"],
      registers,
    });
    this.callSeconds = new Histogram({
      name: "scopegate_call_duration_seconds",
      help: "Whole-call latency.",
      labelNames: ["procedure"],
      buckets: BUCKETS,
      registers,
    });
    this.stageSeconds = new Histogram({
      name: "scopegate_stage_duration_seconds",
      help: "Latency per pipeline stage.",
      labelNames: ["stage"],
      buckets: BUCKETS,
      registers,
    });
    this.modelTokens = new Counter({
      name: "scopegate_model_tokens_total",
      // Per owner and key, usage lives in the database (keys list/show); a label would be unbounded.
      help: "Model tokens by direction.",
      labelNames: ["direction"],
      registers,
    });
    this.guardVerdicts = new Counter({
      name: "scopegate_guard_flags_total",
      help: "Guard flags raised on calls.",
      labelNames: ["flag"],
      registers,
    });
    this.limitRefusals = new Counter({
      name: "scopegate_limit_refusals_total",
      help: "Calls refused by rate limits, token budgets and authentication throttling.",
      labelNames: ["reason"],
      registers,
    });
    new Gauge({
      name: "scopegate_audit_queue_depth",
      help: "Audit records waiting for their group commit.",
      registers,
      collect() {
        this.set(sources.auditQueueDepth());
      },
    });
    new Gauge({
      name: "scopegate_key_cache_lookups",
      help: "Key cache lookups since start, by result.",
      labelNames: ["result"],
      registers,
      collect() {
        const { hits, misses } = sources.keyCache();
        this.set({ result: "hit" }, hits);
        this.set({ result: "miss" }, misses);
      },
    });
  }

  /** Counts one call from its final audit record (the aggregated flood record counts `count` calls). */
  recordCall(record: AuditRecord): void {
    const procedure = oneOf(this.procedures, record.procedure, "unknown");
    const reason = record.reason == null ? "" : oneOf(KNOWN_REASONS, record.reason, "other");
    const count = record.count ?? 1;
    this.calls.inc({ procedure, outcome: oneOf(OUTCOMES, record.outcome, "unknown"), reason }, count);
    if (record.latencyMs !== null && record.latencyMs !== undefined) {
      this.callSeconds.observe({ procedure }, record.latencyMs / 1000);
    }
    if (record.inputTokens) this.modelTokens.inc({ direction: "input" }, record.inputTokens);
    if (record.outputTokens) this.modelTokens.inc({ direction: "output" }, record.outputTokens);
    for (const flag of record.flags ?? []) this.guardVerdicts.inc({ flag: this.flagLabel(flag) });
    if (LIMIT_REASONS.has(reason)) this.limitRefusals.inc({ reason }, count);
  }

  private flagLabel(flag: string): string {
    if (this.flagLabels.has(flag)) return flag;
    if (!FLAG_SHAPE.test(flag) || this.flagLabels.size >= MAX_FLAG_LABELS) return "other";
    this.flagLabels.add(flag);
    return flag;
  }

  observeStage(stage: Stage, seconds: number): void {
    this.stageSeconds.observe({ stage }, seconds);
  }

  exposition(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}

function oneOf(allowed: ReadonlySet<string>, value: string | null | undefined, otherwise: string): string {
  return value != null && allowed.has(value) ? value : otherwise;
}
