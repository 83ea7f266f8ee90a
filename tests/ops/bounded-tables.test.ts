// Memory an attacker can address stays bounded: 50,000 distinct unknown paths add no metrics
// series (labels come from closed sets), and 50,000 failing addresses leave the brute-force table
// at its cap without flushing a lockout; IPv6 counts per /64, IPv4-mapped IPv6 as IPv4.
import { describe, expect, it } from "vitest";
import { FloodAggregator } from "../../server/audit/flood.ts";
import type { AuditRecord } from "../../server/audit/record.ts";
import {
  AuthThrottle,
  DEFAULT_THROTTLE,
  MAX_THROTTLED_NETWORKS,
  throttleKey,
} from "../../server/auth/throttle.ts";
import { Metrics } from "../../server/ops/metrics.ts";
import { appRouter } from "../../server/routers/app.ts";
import { useTestServer } from "../helpers/http.ts";
import { useTestServices } from "../helpers/services.ts";
import { metricsText } from "../security/sinks.ts";

const DISTINCT = 50_000;

/** Sample lines of the exposition (one per series and bucket), without comments. */
const seriesLines = (text: string) => text.split("\n").filter((line) => line && !line.startsWith("#"));
const callSeries = (text: string) =>
  seriesLines(text).filter((line) => line.startsWith("scopegate_calls_total"));

function metrics(): Metrics {
  return new Metrics({
    auditQueueDepth: () => 0,
    keyCache: () => ({ hits: 0, misses: 0 }),
    procedures: Object.keys(appRouter._def.procedures),
  });
}

describe("metrics labels are closed sets", () => {
  it("50,000 distinct unknown paths, reasons, outcomes and flags add no series", async () => {
    const m = metrics();
    const refusal = (i: number): AuditRecord => ({
      phase: "final",
      requestId: `req_${i}`,
      procedure: `no.such.procedure.${i}`,
      outcome: "denied",
      reason: "not_found",
      latencyMs: 1,
    });
    m.recordCall(refusal(0));
    const before = seriesLines(await m.exposition()).filter(
      (l) => !l.startsWith("scopegate_process") && !l.startsWith("scopegate_nodejs"),
    );
    for (let i = 1; i < DISTINCT; i++) {
      m.recordCall(refusal(i));
      m.recordCall({
        phase: "final",
        requestId: `req_x${i}`,
        procedure: "chat",
        outcome: `odd_${i}` as AuditRecord["outcome"],
        reason: `made_up_${i}`,
        flags: [`flag_${i}`, `Not A Flag ${i}`],
        owner: `owner-${i}`,
        inputTokens: 1,
      });
    }
    const text = await m.exposition();
    const after = seriesLines(text).filter(
      (l) => !l.startsWith("scopegate_process") && !l.startsWith("scopegate_nodejs"),
    );
    expect(text).not.toMatch(/no\.such\.procedure|made_up_|owner-|Not A Flag/);
    expect(callSeries(text).filter((l) => l.includes('procedure="unknown"'))).toHaveLength(1);
    expect(callSeries(text).find((l) => l.includes('procedure="unknown"'))).toMatch(
      new RegExp(` ${DISTINCT}$`),
    );
    // The chat series (one outcome and reason `unknown`/`other`), at most 64 flags, one model-tokens series.
    expect(after.length - before.length).toBeLessThanOrEqual(1 + 64 + 1 + 1 + 30);
    expect(after.length).toBeLessThan(200);
  });

  describe("over HTTP", () => {
    const services = useTestServices();
    const server = useTestServer(services);

    it("unknown paths are counted as procedure=unknown and never appear on /metrics", async () => {
      const url = server().url;
      const baseline = callSeries(await metricsText(url)).length;
      for (let i = 0; i < 300; i++) {
        const response = await fetch(`${url}/trpc/probe.path${i}`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: "{}",
        });
        expect(response.status).toBe(404);
        await response.arrayBuffer();
      }
      const text = await metricsText(url);
      expect(text).not.toContain("probe.path");
      expect(callSeries(text).length - baseline).toBeLessThanOrEqual(1);
      expect(callSeries(text).find((l) => l.includes('procedure="unknown"'))).toMatch(/ 300$/);
    });
  });
});

describe("the brute-force table", () => {
  const settings = { ...DEFAULT_THROTTLE, slowAfter: 5, refuseAfter: 20 };

  it("stays at its cap under 50,000 failing IPv4 addresses, and a hammering address stays locked", () => {
    const throttle = new AuthThrottle(settings, () => 1_000);
    const attacker = "198.51.100.1";
    for (let i = 0; i <= settings.refuseAfter; i++) throttle.recordFailure(attacker);
    expect(throttle.recordFailure(attacker).action).toBe("refuse");
    for (let i = 0; i < DISTINCT; i++) {
      throttle.recordFailure(`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`);
      // The attacker keeps trying between the others: its lockout is never flushed.
      if (i % 1000 === 0) expect(throttle.recordFailure(attacker).action).toBe("refuse");
      expect(throttle.size).toBeLessThanOrEqual(MAX_THROTTLED_NETWORKS);
    }
    expect(throttle.size).toBe(MAX_THROTTLED_NETWORKS);
    expect(throttle.recordFailure(attacker).action).toBe("refuse");
  });

  it("counts 50,000 addresses of one IPv6 /64 as one network, locked after the threshold", () => {
    const throttle = new AuthThrottle(settings, () => 1_000);
    const verdicts = [];
    for (let i = 0; i < DISTINCT; i++) {
      verdicts.push(
        throttle.recordFailure(`2001:db8:1:2:${(i % 65536).toString(16)}:${i >> 16}:abcd:${i % 7}`),
      );
    }
    expect(throttle.size).toBe(1);
    expect(verdicts[settings.refuseAfter - 1]?.action).toBe("delay");
    expect(verdicts[settings.refuseAfter]?.action).toBe("refuse");
    expect(verdicts.at(-1)?.action).toBe("refuse");
    // The neighbouring /64 is someone else.
    expect(throttle.recordFailure("2001:db8:1:3::1")).toEqual({ action: "delay", delayMs: 0 });
  });

  it("keys addresses by network: IPv6 /64 in any spelling, IPv4-mapped IPv6 as IPv4", () => {
    expect(throttleKey("2001:db8::1")).toBe(throttleKey("2001:0DB8:0:0:ffff:1:2:3"));
    expect(throttleKey("2001:db8::1")).toBe("2001:db8:0:0::/64");
    expect(throttleKey("fe80::1%eth0")).toBe("fe80:0:0:0::/64");
    expect(throttleKey("::ffff:192.0.2.7")).toBe("192.0.2.7");
    expect(throttleKey("::ffff:c000:207")).toBe("192.0.2.7");
    expect(throttleKey("192.0.2.7")).toBe("192.0.2.7");
    expect(throttleKey("unknown")).toBe("unknown");
    const throttle = new AuthThrottle(settings, () => 1_000);
    for (let i = 0; i < settings.refuseAfter; i++) throttle.recordFailure("::ffff:192.0.2.7");
    expect(throttle.recordFailure("192.0.2.7").action).toBe("refuse");
  });
});

describe("the flood aggregator", () => {
  it("holds a bounded number of aggregates under 50,000 flooding addresses, and loses no count", () => {
    const perMinute = 20;
    const flood = new FloodAggregator(perMinute, () => 1_000);
    let individual = 0;
    for (let i = 0; i < DISTINCT; i++) {
      const clientAddress = `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
      for (let n = 0; n <= perMinute; n++) {
        const record: AuditRecord = {
          phase: "final",
          requestId: "r",
          outcome: "denied",
          reason: "invalid_key",
          clientAddress,
        };
        if (flood.recordIndividually(record)) individual += 1;
      }
    }
    expect(individual).toBe(DISTINCT * perMinute);
    const aggregates = flood.takeDue(true);
    expect(aggregates.length).toBeLessThanOrEqual(10_001);
    expect(aggregates.reduce((sum, r) => sum + (r.count ?? 1), 0)).toBe(DISTINCT);
    expect(aggregates.filter((r) => r.clientAddress === "*")).toHaveLength(1);
  });
});
