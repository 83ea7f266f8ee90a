// Model grants for tests and benchmarks that call a provider directly (no key, no database):
// from a budget with no limit rows, so every cover succeeds. The server never builds one of these:
// its budgets come from admission.
import { CallBudget, type ModelGrant } from "../../server/limits/token-budget.ts";

export function unlimitedBudget(): CallBudget {
  return new CallBudget({
    limitIds: [],
    reserved: 0,
    now: new Date(),
    clock: () => new Date(),
    reserveMore: async () => true,
  });
}

/** A grant for one direct provider call (providers read it; only callModel charges it). */
export function testGrant(maxOutputTokens: number, inputTokens = 0): Promise<ModelGrant> {
  return unlimitedBudget().cover({ inputTokens, maxOutputTokens });
}
