// The benchmark's model: the real offline provider (same summarizing work on both sides) behind
// a fixed delay, so a run measures what the gateway adds to a model of known latency.
import { setTimeout as sleep } from "node:timers/promises";
import { OfflineProvider } from "../../server/model/offline.ts";
import type { Completion, CompletionRequest, ModelProvider } from "../../server/model/provider.ts";

export class FixedLatencyModel implements ModelProvider {
  readonly name: string;
  private readonly inner = new OfflineProvider();

  constructor(private readonly delayMs: number) {
    this.name = `offline+${delayMs}ms`;
  }

  async complete(request: CompletionRequest): Promise<Completion> {
    // A zero delay skips the timer so the zero-latency runs measure the pipeline alone.
    if (this.delayMs > 0) await sleep(this.delayMs, undefined, { signal: request.signal });
    return this.inner.complete(request);
  }
}

/** A benign ~2 KB document, what every benchmark request summarizes. */
export const BENCH_TEXT = Array.from(
  { length: 20 },
  (_, i) =>
    `Quarterly report section ${i + 1}: revenue grew in the northern region while logistics costs fell after the new warehouse opened.`,
)
  .join(" ")
  .slice(0, 2048);
