// Brute-force protection per client address: failed authentications within a window first
// slow the failing responses, then refuse the address for a while. Only failures are counted
// and only failures are slowed or refused: a correct secret never consults this, so nobody can
// lock a key holder out.

export interface ThrottleSettings {
  windowMs: number;
  /** Failures in the window before responses are slowed. */
  slowAfter: number;
  /** Failures in the window before the address is refused (`auth_throttled`). */
  refuseAfter: number;
  delayStepMs: number;
  maxDelayMs: number;
  lockoutMs: number;
}

export const DEFAULT_THROTTLE: ThrottleSettings = {
  windowMs: 60_000,
  slowAfter: 5,
  refuseAfter: 20,
  delayStepMs: 100,
  maxDelayMs: 1_000,
  lockoutMs: 60_000,
};

interface AddressState {
  windowStart: number;
  failures: number;
  lockedUntil: number;
}

// Bounds memory when failures come from very many addresses.
const MAX_ADDRESSES = 50_000;

export type ThrottleVerdict =
  | { action: "refuse"; retryAfterMs: number }
  | { action: "delay"; delayMs: number };

export class AuthThrottle {
  private addresses = new Map<string, AddressState>();

  constructor(
    private readonly settings: ThrottleSettings = DEFAULT_THROTTLE,
    private readonly now: () => number = Date.now,
  ) {}

  /** Counts one failed authentication and says how to answer it. */
  recordFailure(address: string): ThrottleVerdict {
    const now = this.now();
    let state = this.addresses.get(address);
    if (!state || (now - state.windowStart >= this.settings.windowMs && now >= state.lockedUntil)) {
      if (!state && this.addresses.size >= MAX_ADDRESSES) this.evictExpired(now);
      state = { windowStart: now, failures: 0, lockedUntil: 0 };
      this.addresses.set(address, state);
    }
    state.failures += 1;
    if (state.failures > this.settings.refuseAfter && state.lockedUntil <= now) {
      state.lockedUntil = now + this.settings.lockoutMs;
    }
    if (state.lockedUntil > now) return { action: "refuse", retryAfterMs: state.lockedUntil - now };
    const excess = state.failures - this.settings.slowAfter;
    const delayMs = excess > 0 ? Math.min(this.settings.maxDelayMs, excess * this.settings.delayStepMs) : 0;
    return { action: "delay", delayMs };
  }

  private evictExpired(now: number): void {
    for (const [address, state] of this.addresses) {
      if (now - state.windowStart >= this.settings.windowMs && now >= state.lockedUntil)
        this.addresses.delete(address);
    }
    if (this.addresses.size >= MAX_ADDRESSES) this.addresses.clear();
  }
}
