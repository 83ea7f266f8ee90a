// Property tests: the bucket arithmetic (and the SQL that applies it), the scope subset rule,
// and the expiry arithmetic of derived keys.

import { sql } from "drizzle-orm";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { keyLimits, type Rows } from "../../db/index.ts";
import type { Principal } from "../../server/auth/principal.ts";
import { localOperator } from "../../server/auth/principal.ts";
import { hasScope } from "../../server/auth/scopes.ts";
import type { ScopegateError } from "../../server/errors.ts";
import { checkGrantable } from "../../server/keys/grants.ts";
import { emissionIntervalMs, gcra } from "../../server/limits/gcra.ts";
import { chargeCall, takeRateSlot } from "../../server/limits/metering.ts";
import { workerDatabase } from "../helpers/database.ts";
import { callerFor, createTestKey, rememberIssued, useTestServices } from "../helpers/services.ts";
import { TestClock, testClockOf } from "../pipeline/support.ts";

describe("GCRA arithmetic", () => {
  it("admits exactly rpm calls in an instant burst", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 1000 }), fc.integer({ min: 1, max: 1200 }), (rpm, burst) => {
        let tat = 0;
        let allowed = 0;
        const now = 1_000_000;
        for (let i = 0; i < burst; i++) {
          const d = gcra(tat, now, rpm);
          if (d.allowed) {
            allowed += 1;
            tat = d.tat;
          }
        }
        expect(allowed).toBe(Math.min(rpm, burst));
      }),
      { numRuns: 200 },
    );
  });

  it("never admits more than rpm + elapsed * rpm / 60 s, and a refused call fits after retryAfterMs", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 600 }),
        fc.array(fc.integer({ min: 0, max: 5000 }), { minLength: 1, maxLength: 300 }),
        (rpm, gaps) => {
          let tat = 0;
          let now = 10_000_000;
          const start = now;
          let allowed = 0;
          for (const gap of gaps) {
            now += gap;
            const d = gcra(tat, now, rpm);
            if (d.allowed) {
              allowed += 1;
              tat = d.tat;
            } else {
              expect(d.retryAfterMs).toBeGreaterThan(0);
              expect(gcra(tat, now + d.retryAfterMs, rpm).allowed).toBe(true);
            }
          }
          expect(allowed).toBeLessThanOrEqual(rpm + Math.floor((now - start) / emissionIntervalMs(rpm)) + 1);
        },
      ),
      { numRuns: 200 },
    );
  });
});

// Each statement of metering.ts that takes a rate slot, and what it says about a refusal.
const rateStatements = [
  {
    name: "the admission charge",
    take: (id: string, at: Date) => {
      const charge = chargeCall([id], { now: at, reserveTokens: 0 });
      return { statement: charge.statement, refusal: (rows: Rows) => charge.refusal(rows) };
    },
  },
  {
    name: "the rate slot alone",
    take: (id: string, at: Date) => {
      const slot = takeRateSlot([id], at);
      return {
        statement: slot.statement,
        refusal: (rows: Rows) => {
          const retryAfterMs = slot.retryAfterMs(rows);
          return retryAfterMs === null ? null : { reason: "rate_limited", retryAfterMs };
        },
      };
    },
  },
];

describe.each(rateStatements)("the SQL of $name applies the same rule", ({ take }) => {
  it("agrees with gcra() call by call", async () => {
    const { handle } = await workerDatabase();
    let run = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 120 }),
        fc.array(fc.integer({ min: 0, max: 4000 }), { minLength: 1, maxLength: 25 }),
        async (rpm, gaps) => {
          const id = `prop${process.pid}x${run++}`;
          await handle.db.insert(keyLimits).values({ id, rpm });
          let tat = 0;
          let now = 1_700_000_000_000;
          for (const gap of gaps) {
            now += gap;
            const expected = gcra(tat, now, rpm);
            const step = take(id, new Date(now));
            const [rows] = await handle.transact([step.statement]);
            const refusal = step.refusal(rows ?? []);
            expect(refusal === null).toBe(expected.allowed);
            if (expected.allowed) tat = expected.tat;
            else expect(refusal).toEqual({ reason: "rate_limited", retryAfterMs: expected.retryAfterMs });
          }
          await handle.db.execute(sql`delete from key_limits where id = ${id}`);
        },
      ),
      { numRuns: 25 },
    );
  });
});

const scopeArb = fc.constantFrom(
  "endpoint:summarize-doc",
  "endpoint:chat",
  "prompt-processing",
  "keys:derive",
  "admin:keys",
  "db:alpha",
  "db:beta",
  "db:*",
  "tool:search-documents",
  "tool:*",
);

describe("the scope subset rule", () => {
  it("a grant succeeds exactly when every requested scope is covered by a held one", () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(scopeArb, { maxLength: 6 }),
        fc.uniqueArray(scopeArb, { minLength: 1, maxLength: 6 }),
        (held, requested) => {
          const granter: Principal = { ...localOperator(), kind: "key", keyId: "granter", scopes: held };
          const covered = requested.every((r) => hasScope(held, r));
          let refused: ScopegateError | null = null;
          try {
            checkGrantable(granter, requested);
          } catch (error) {
            refused = error as ScopegateError;
          }
          expect(refused === null).toBe(covered);
          if (refused) {
            expect(refused.reason).toBe("missing_scope");
            expect(refused.details.missingScopes).toEqual(requested.filter((r) => !hasScope(held, r)));
          }
        },
      ),
      { numRuns: 500 },
    );
  });
});

const services = useTestServices(() => ({ clock: new TestClock() }));

describe("derived-key expiry", () => {
  it("is min(now + ttl, parent's expiry)", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.option(fc.integer({ min: 1, max: 10_000 }), { nil: undefined }),
        fc.integer({ min: 1, max: 10_000 }),
        async (parentTtl, childTtl) => {
          const s = services();
          const parent = await createTestKey(s, {
            scopes: ["keys:derive", "endpoint:chat"],
            ttlSeconds: parentTtl,
          });
          const now = testClockOf(s).now().getTime();
          const child = await callerFor(s, parent.plaintext).keys.derive({
            scopes: ["endpoint:chat"],
            ttlSeconds: childTtl,
          });
          rememberIssued(child.key);
          const expected = Math.min(
            now + childTtl * 1000,
            parentTtl === undefined ? Number.POSITIVE_INFINITY : now + parentTtl * 1000,
          );
          expect(new Date(child.expiresAt).getTime()).toBe(expected);
        },
      ),
      { numRuns: 15 },
    );
  });
});
