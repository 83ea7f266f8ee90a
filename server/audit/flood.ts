// Keeps a flood of unauthenticated refusals from filling the audit log: past a per-address
// threshold within a minute, further refusals are counted into one record per address and
// reason, written when that minute ends.
import { LRUCache } from "lru-cache";
import type { AuditRecord } from "./record.ts";

const WINDOW_MS = 60_000;
// Bounds memory under a flood from many addresses: the least recently refused address's window
// is forgotten first (its next refusals are recorded one by one again, which is bounded too).
const MAX_TRACKED_ADDRESSES = 10_000;
// Aggregates waiting for their minute to end; past this, further ones share one bucket, so their
// counts are kept without a record per address.
const MAX_AGGREGATES = 10_000;
const OVERFLOW_ADDRESS = "*";

interface Window {
  start: number;
  count: number;
}

interface Aggregate {
  windowStart: number;
  record: AuditRecord;
}

export class FloodAggregator {
  private windows = new LRUCache<string, Window>({ max: MAX_TRACKED_ADDRESSES });
  private aggregates = new Map<string, Aggregate>();

  constructor(
    private readonly perAddressPerMinute: number,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * Counts one unauthenticated refusal. Returns true when it should be recorded on its own;
   * otherwise it has been folded into the address's aggregate record.
   */
  recordIndividually(record: AuditRecord): boolean {
    const now = this.now();
    const address = record.clientAddress ?? "unknown";
    let window = this.windows.get(address);
    if (!window || now - window.start >= WINDOW_MS) {
      window = { start: now, count: 0 };
      this.windows.set(address, window);
    }
    window.count += 1;
    if (window.count <= this.perAddressPerMinute) return true;
    let key = `${address}\u0000${record.reason ?? ""}`;
    if (!this.aggregates.has(key) && this.aggregates.size >= MAX_AGGREGATES) {
      key = `${OVERFLOW_ADDRESS}\u0000${record.reason ?? ""}`;
    }
    const aggregate = this.aggregates.get(key);
    if (aggregate) {
      aggregate.record.count = (aggregate.record.count ?? 1) + 1;
    } else {
      this.aggregates.set(key, {
        windowStart: window.start,
        record: {
          ...record,
          clientAddress: key.slice(0, key.indexOf("\u0000")),
          callId: null,
          input: null,
          count: 1,
          details: { aggregated: true, windowStart: new Date(window.start).toISOString() },
        },
      });
    }
    return false;
  }

  /** Aggregates whose minute has ended (or all, at shutdown), removed from memory. */
  takeDue(all = false): AuditRecord[] {
    const now = this.now();
    const due: AuditRecord[] = [];
    for (const [key, aggregate] of this.aggregates) {
      if (all || now - aggregate.windowStart >= WINDOW_MS) {
        due.push(aggregate.record);
        this.aggregates.delete(key);
      }
    }
    const ended = [...this.windows.entries()].filter(([, window]) => now - window.start >= WINDOW_MS);
    for (const [address] of ended) this.windows.delete(address);
    return due;
  }
}
