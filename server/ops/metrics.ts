// Prometheus metrics (prom-client), one registry per server. Labels never carry key ids,
// secrets or prompts: procedure, outcome, reason, stage, owner and guard flag only.
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";
import type { AuditRecord } from "../audit/record.ts";

export interface MetricSources {
  auditQueueDepth(): number;
  keyCache(): { hits: number; misses: number };
}

// Latency buckets in seconds, from sub-millisecond pipeline stages to slow model calls.
const BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

export type Stage = "authenticate" | "admit" | "model" | "audit";

export class Metrics {
  readonly registry = new Registry();
  private readonly calls: Counter<"procedure" | "outcome" | "reason">;
  private readonly callSeconds: Histogram<"procedure">;
  private readonly stageSeconds: Histogram<"stage">;
  private readonly modelTokens: Counter<"owner" | "direction">;
  private readonly guardVerdicts: Counter<"flag">;
  private readonly limitRefusals: Counter<"reason">;

  constructor(sources: MetricSources) {
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
      help: "Model tokens by key owner.",
      labelNames: ["owner", "direction"],
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
    const procedure = record.procedure ?? "unknown";
    const count = record.count ?? 1;
    this.calls.inc({ procedure, outcome: record.outcome ?? "unknown", reason: record.reason ?? "" }, count);
    if (record.latencyMs !== null && record.latencyMs !== undefined) {
      this.callSeconds.observe({ procedure }, record.latencyMs / 1000);
    }
    const owner = record.owner ?? "unknown";
    if (record.inputTokens) this.modelTokens.inc({ owner, direction: "input" }, record.inputTokens);
    if (record.outputTokens) this.modelTokens.inc({ owner, direction: "output" }, record.outputTokens);
    for (const flag of record.flags ?? []) this.guardVerdicts.inc({ flag });
    if (
      record.reason === "rate_limited" ||
      record.reason === "budget_exhausted" ||
      record.reason === "auth_throttled"
    ) {
      this.limitRefusals.inc({ reason: record.reason }, count);
    }
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
