// Rate-limit and budget arithmetic as pure functions. The SQL in metering.ts applies the same
// rules inside the database; property tests hold the two to each other.

/** The rate window: a key with `rpm` may burst `rpm` calls, then refills rpm/60 per second. */
export const WINDOW_MS = 60_000;
// Float slack so that exactly `rpm` calls fit in a burst despite 60000/rpm rounding.
export const EPSILON_MS = 1e-6;

export const emissionIntervalMs = (rpm: number): number => WINDOW_MS / rpm;

export interface GcraDecision {
  allowed: boolean;
  /** The bucket's new theoretical arrival time when allowed; unchanged otherwise. */
  tat: number;
  /** When refused: how long until one more call fits. */
  retryAfterMs: number;
}

/** GCRA: a call at `now` is allowed when max(tat, now) + T - now <= WINDOW_MS. */
export function gcra(tat: number, now: number, rpm: number): GcraDecision {
  const next = Math.max(tat, now) + emissionIntervalMs(rpm);
  const excess = next - now - WINDOW_MS;
  if (excess <= EPSILON_MS) return { allowed: true, tat: next, retryAfterMs: 0 };
  return { allowed: false, tat, retryAfterMs: Math.ceil(excess) };
}

export const utcDay = (date: Date): string => date.toISOString().slice(0, 10);

export function msUntilNextUtcDay(now: Date): number {
  const next = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate() + 1);
  return next - now.getTime();
}

/** Tokens counted for `today`: a row last charged on another day starts from zero. */
export const tokensToday = (tokenDay: string | null, tokensUsed: number, today: string): number =>
  tokenDay === today ? tokensUsed : 0;
