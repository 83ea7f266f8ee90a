// The call budget on its own, against an in-memory lineage row: whatever rounds a call asks for,
// whatever the provider reports and however a round ends, the row never goes past its limit,
// settlement only gives tokens back, and a grant's output cap is what the round asked for.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { ScopegateError } from "../../server/errors.ts";
import { utcDay } from "../../server/limits/gcra.ts";
import { CallBudget } from "../../server/limits/token-budget.ts";
import { estimateTokens, truncateToTokens } from "../../server/model/provider.ts";

/** One limit row: reserving is all-or-nothing, as the SQL's conditional update is. */
function lineageRow(limit: number, start: number) {
  const row = { used: start, reservations: [] as Array<{ tokens: number; day: string }> };
  const reserveMore = async (tokens: number, now: Date) => {
    if (row.used + tokens > limit) return false;
    row.used += tokens;
    row.reservations.push({ tokens, day: utcDay(now) });
    return true;
  };
  return { row, reserveMore };
}

/** The settlement statement's token change (its third parameter), 0 when there is none. */
function settledDelta(budget: CallBudget): number {
  const statement = budget.settlement(0);
  return statement ? Number(statement.params[2]) : 0;
}

const round = fc.record({
  inputTokens: fc.nat(5000),
  maxOutputTokens: fc.integer({ min: 1, max: 2048 }),
  reported: fc.record({ inputTokens: fc.nat(1_000_000), outputTokens: fc.nat(100_000) }),
  end: fc.constantFrom("completed", "failed", "left_mid_stream"),
  streamed: fc.nat(4000),
});

describe("CallBudget", () => {
  it("never takes the row past its limit; settlement only gives back (generated rounds)", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: 50_000 }),
        fc.nat(20_000),
        fc.nat(10_000),
        fc.array(round, { minLength: 1, maxLength: 8 }),
        async (limit, alreadyUsed, admitted, rounds) => {
          fc.pre(alreadyUsed + admitted <= limit);
          const { row, reserveMore } = lineageRow(limit, alreadyUsed + admitted);
          const now = new Date("2026-03-01T12:00:00Z");
          const budget = new CallBudget({
            limitIds: ["k"],
            reserved: admitted,
            now,
            clock: () => now,
            reserveMore,
          });
          let charged = 0;
          for (const r of rounds) {
            let grant: Awaited<ReturnType<CallBudget["cover"]>>;
            try {
              grant = await budget.cover(r);
            } catch (error) {
              expect((error as ScopegateError).reason).toBe("budget_exhausted");
              break;
            }
            expect(grant.maxOutputTokens).toBe(r.maxOutputTokens);
            expect(row.used).toBeLessThanOrEqual(limit);
            if (r.end === "completed") {
              const c = grant.charge(r.reported);
              expect(c.inputTokens + c.outputTokens).toBeLessThanOrEqual(grant.tokens);
              charged += c.inputTokens + c.outputTokens;
              continue;
            }
            if (r.end === "left_mid_stream") grant.noteStreamed(r.streamed);
            charged += grant.unfinishedCharge;
            break;
          }
          const delta = settledDelta(budget);
          expect(delta).toBeLessThanOrEqual(0);
          row.used += delta;
          expect(row.used).toBeLessThanOrEqual(limit);
          // What stays charged is exactly what the rounds were charged.
          expect(row.used).toBe(alreadyUsed + charged);
        },
      ),
      { numRuns: 500 },
    );
  });

  it("a call running past midnight reserves the new day's rounds on the new day", async () => {
    const { row, reserveMore } = lineageRow(10_000, 1000);
    let now = new Date("2026-03-01T23:59:59Z");
    const budget = new CallBudget({ limitIds: ["k"], reserved: 1000, now, clock: () => now, reserveMore });
    const first = await budget.cover({ inputTokens: 400, maxOutputTokens: 500 });
    first.charge({ inputTokens: 400, outputTokens: 100 });
    now = new Date("2026-03-02T00:00:01Z");
    const second = await budget.cover({ inputTokens: 400, maxOutputTokens: 500 });
    // Yesterday's pool stays with yesterday: today's round is reserved in full, today.
    expect(row.reservations).toEqual([{ tokens: 900, day: "2026-03-02" }]);
    second.charge({ inputTokens: 100, outputTokens: 100 });
    const statement = budget.settlement(0);
    expect(statement?.params[1]).toBe("2026-03-02");
    expect(statement?.params[2]).toBe(200 - 900);
  });

  it("a grant is charged once", async () => {
    const { reserveMore } = lineageRow(10_000, 0);
    const now = new Date();
    const budget = new CallBudget({ limitIds: ["k"], reserved: 0, now, clock: () => now, reserveMore });
    const grant = await budget.cover({ inputTokens: 10, maxOutputTokens: 10 });
    grant.charge({ inputTokens: 1, outputTokens: 1 });
    expect(() => grant.charge({ inputTokens: 1, outputTokens: 1 })).toThrow("charged once");
  });
});

describe("token estimates", () => {
  it("count a token per four ASCII characters and per other UTF-16 unit; a cut prefix fits its cap", () => {
    fc.assert(
      fc.property(fc.string({ unit: "binary", maxLength: 400 }), fc.nat(120), (text, cap) => {
        let other = 0;
        for (const unit of text.split("")) if (unit.charCodeAt(0) > 0x7f) other++;
        expect(estimateTokens(text)).toBe(Math.ceil((text.length - other) / 4) + other);
        const cut = truncateToTokens(text, cap);
        expect(text.startsWith(cut)).toBe(true);
        expect(estimateTokens(cut)).toBeLessThanOrEqual(cap);
        if (estimateTokens(text) <= cap) expect(cut).toBe(text);
      }),
      { numRuns: 500 },
    );
  });
});
