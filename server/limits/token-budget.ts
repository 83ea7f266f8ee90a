// A call's token budget: what admission reserved on the key lineage, topped up before each model
// round that needs more, and what the rounds were charged. A model round needs a `ModelGrant`,
// and only `CallBudget.cover` makes one, after the tokens it covers are reserved: so no model
// call can run past `dailyTokens`, and settlement (charged minus reserved) can only give back.
import type { Statement } from "../../db/index.ts";
import { ScopegateError } from "../errors.ts";
import { msUntilNextUtcDay, utcDay } from "./gcra.ts";
import { settleCall } from "./metering.ts";

/** Usage in tokens, split as providers report it. */
export interface TokenUsage {
  inputTokens: number;
  outputTokens: number;
}

// Not exported: nothing outside this module can make a grant.
const MINT: unique symbol = Symbol("model grant");

/** Permission for one model round: `inputTokens` of prompt and at most `maxOutputTokens` out. */
export class ModelGrant {
  readonly #budget: CallBudget;
  #open = true;
  #streamed = 0;

  constructor(
    mint: typeof MINT,
    budget: CallBudget,
    readonly inputTokens: number,
    readonly maxOutputTokens: number,
  ) {
    if (mint !== MINT) throw new TypeError("model grants come from CallBudget.cover");
    this.#budget = budget;
  }

  get tokens(): number {
    return this.inputTokens + this.maxOutputTokens;
  }

  /** Output a stream has delivered so far. */
  noteStreamed(tokens: number): void {
    this.#streamed += tokens;
  }

  /**
   * What the round costs if it never finishes (its client left, it failed): nothing if no text
   * went out, else its input and the output that did, capped by the grant.
   */
  get unfinishedCharge(): number {
    return this.#streamed === 0 ? 0 : Math.min(this.tokens, this.inputTokens + this.#streamed);
  }

  /**
   * Charges what the round used, capped by the grant (output first, then input), once. Returns
   * what was charged.
   */
  charge(used: TokenUsage): TokenUsage & { capped: boolean } {
    if (!this.#open) throw new Error("a model grant is charged once");
    this.#open = false;
    const outputTokens = clamp(used.outputTokens, this.maxOutputTokens);
    const inputTokens = clamp(used.inputTokens, this.tokens - outputTokens);
    const capped = inputTokens !== used.inputTokens || outputTokens !== used.outputTokens;
    this.#budget.settleRound(this, inputTokens + outputTokens);
    return { inputTokens, outputTokens, capped };
  }
}

const clamp = (value: number, max: number) => Math.min(Math.max(0, Math.floor(value) || 0), max);

/** Reserves `tokens` more on the lineage for `now`'s day; false when some row has no room. */
export type ReserveMore = (tokens: number, now: Date) => Promise<boolean>;

export interface CallBudgetOptions {
  limitIds: readonly string[];
  /** What admission reserved, and when. */
  reserved: number;
  now: Date;
  clock: () => Date;
  reserveMore: ReserveMore;
}

export class CallBudget {
  private readonly limitIds: readonly string[];
  private readonly clock: () => Date;
  private readonly reserveMore: ReserveMore;
  /** The UTC day the pool below is reserved on. */
  private day: string;
  private reserved: number;
  /** Charged by settled rounds. */
  private charged = 0;
  /** Tokens of grants not yet charged (rounds in flight). */
  private outstanding = 0;
  private readonly open = new Set<ModelGrant>();

  constructor(options: CallBudgetOptions) {
    this.limitIds = options.limitIds;
    this.clock = options.clock;
    this.reserveMore = options.reserveMore;
    this.day = utcDay(options.now);
    this.reserved = options.reserved;
  }

  /** Tokens charged so far by this call's rounds. */
  get chargedTokens(): number {
    return this.charged;
  }

  /**
   * Reserves what one model round can use, topping the reservation up on the lineage when the
   * call's pool is short; refuses with `budget_exhausted` when the lineage has no room.
   */
  async cover(round: { inputTokens: number; maxOutputTokens: number }): Promise<ModelGrant> {
    const grant = new ModelGrant(
      MINT,
      this,
      Math.max(0, Math.ceil(round.inputTokens)),
      Math.max(1, Math.floor(round.maxOutputTokens)),
    );
    const now = this.clock();
    const today = utcDay(now);
    if (today !== this.day) {
      // A call running past midnight: yesterday's pool stays charged in full (never more than
      // was reserved), and today's starts empty.
      this.day = today;
      this.reserved = this.charged = this.outstanding = 0;
      this.open.clear();
    }
    const short = grant.tokens - (this.reserved - this.charged - this.outstanding);
    if (short > 0) {
      if (!(await this.reserveMore(short, now))) {
        throw new ScopegateError(
          "TOO_MANY_REQUESTS",
          "budget_exhausted",
          "The key's daily token budget cannot cover the next model round.",
          { retryAfterMs: msUntilNextUtcDay(now) },
        );
      }
      this.reserved += short;
    }
    this.outstanding += grant.tokens;
    this.open.add(grant);
    return grant;
  }

  /** Called by `ModelGrant.charge`. */
  settleRound(grant: ModelGrant, tokens: number): void {
    if (!this.open.delete(grant)) return;
    this.outstanding -= grant.tokens;
    this.charged += tokens;
  }

  /**
   * The statement that replaces the call's reservation by what it was charged and adds an abuse
   * penalty. A round still open (the call ended under it) costs its `unfinishedCharge`: a stream
   * whose client left after text went out is not free, a round that sent nothing is refunded.
   */
  settlement(penaltyCalls: number): Statement | null {
    let unfinished = 0;
    for (const grant of this.open) unfinished += grant.unfinishedCharge;
    return settleCall(this.limitIds, {
      day: this.day,
      reserved: this.reserved,
      used: this.charged + unfinished,
      penaltyCalls,
      now: this.clock(),
    });
  }
}
