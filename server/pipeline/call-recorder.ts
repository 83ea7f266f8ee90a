// What the final record needs from steps deep inside a call, kept even when a later step fails:
// one method per fact, each called by the one step that finds it. What the handler produced is
// not here: that is its typed result, projected for the record by the procedure's AuditProjection.
import type { FixedStep } from "../../db/index.ts";
import type { Principal } from "../auth/principal.ts";
import type { Verdict } from "../guard/detect.ts";
import { newCallId } from "../ids.ts";
import type { ModelUsage } from "../model/provider.ts";

const SEVERITY: Record<Verdict, number> = { allow: 0, flag: 1, block: 2 };

/** Token settlement and guard penalty for the call, given the guard's verdict; null: nothing to change. */
export type Settlement = (verdict: Verdict | null) => FixedStep<void> | null;

export class CallRecorder {
  readonly callId = newCallId();
  readonly startedAt = performance.now();
  #principal: Principal | null = null;
  readonly #scopes: string[] = [];
  readonly #guardFlags: string[] = [];
  #verdict: Verdict | null = null;
  #usageCapped = false;
  #model: string | null = null;
  #usage: ModelUsage | null = null;
  #settlement: Settlement | null = null;

  /** @param procedure the procedure's path (e.g. `chat`), for per-procedure guard thresholds. */
  constructor(readonly procedure: string) {}

  /** authenticateCaller: who is calling. */
  authenticated(principal: Principal): void {
    this.#principal = principal;
  }

  /** The scope steps: scopes the call was checked for (and holds). */
  exercised(scopes: readonly string[]): void {
    for (const scope of scopes) if (!this.#scopes.includes(scope)) this.#scopes.push(scope);
  }

  /** The guard: its flags, and for a screened prompt its verdict (the most severe one counts). */
  screened(flags: Iterable<string>, verdict?: Verdict): void {
    for (const flag of flags) if (!this.#guardFlags.includes(flag)) this.#guardFlags.push(flag);
    if (verdict && (this.#verdict === null || SEVERITY[verdict] > SEVERITY[this.#verdict]))
      this.#verdict = verdict;
  }

  /** The model step: one round's charge (tool rounds add up), its model once it answered. */
  modelRound(charged: ModelUsage, round: { model: string | null; capped: boolean }): void {
    this.#usage = {
      inputTokens: (this.#usage?.inputTokens ?? 0) + charged.inputTokens,
      outputTokens: (this.#usage?.outputTokens ?? 0) + charged.outputTokens,
    };
    if (round.model !== null) this.#model = round.model;
    if (round.capped) this.#usageCapped = true;
  }

  /** admitCall: how the call's reservation is settled with its final record. */
  admitted(settlement: Settlement): void {
    this.#settlement = settlement;
  }

  get principal(): Principal | null {
    return this.#principal;
  }
  get scopes(): string[] {
    return [...this.#scopes];
  }
  get verdict(): Verdict | null {
    return this.#verdict;
  }
  /** The call's flags so far: the guard's, and `usage_capped` when a round's usage was capped. */
  get flags(): string[] {
    return this.#usageCapped ? [...this.#guardFlags, "usage_capped"] : [...this.#guardFlags];
  }
  get model(): string | null {
    return this.#model;
  }
  get usage(): ModelUsage | null {
    return this.#usage;
  }
  settlement(): FixedStep<void> | null {
    return this.#settlement?.(this.#verdict) ?? null;
  }
}
