// Keeps a flood of unauthenticated refusals from filling the audit log: past a per-address
// threshold within a minute, further refusals are counted into one record per address and
// reason, written when that minute ends.
import type { AuditRecord } from "./record.ts";

const WINDOW_MS = 60_000;
// Bounds memory under a flood from many addresses; past it every address shares one bucket.
const MAX_TRACKED_ADDRESSES = 10_000;
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
  private windows = new Map<string, Window>();
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
    const address = this.trackedAddress(record.clientAddress ?? "unknown");
    let window = this.windows.get(address);
    if (!window || now - window.start >= WINDOW_MS) {
      window = { start: now, count: 0 };
      this.windows.set(address, window);
    }
    window.count += 1;
    if (window.count <= this.perAddressPerMinute) return true;
    const key = `${address}\u0000${record.reason ?? ""}`;
    const aggregate = this.aggregates.get(key);
    if (aggregate) {
      aggregate.record.count = (aggregate.record.count ?? 1) + 1;
    } else {
      this.aggregates.set(key, {
        windowStart: window.start,
        record: {
          ...record,
          clientAddress: address,
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
    for (const [address, window] of this.windows) {
      if (now - window.start >= WINDOW_MS) this.windows.delete(address);
    }
    return due;
  }

  private trackedAddress(address: string): string {
    if (this.windows.has(address) || this.windows.size < MAX_TRACKED_ADDRESSES) return address;
    return OVERFLOW_ADDRESS;
  }
}
