// Brute-force protection per client network: failed authentications within a window first
// slow the failing responses, then refuse the network for a while. Only failures are counted
// and only failures are slowed or refused: a correct secret never consults this, so nobody can
// lock a key holder out. IPv6 counts per /64 (one subscriber's allocation, rotated freely).
import { isIP } from "node:net";
import { LRUCache } from "lru-cache";

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

// Bounds memory when failures come from very many networks. The least recently failing one is
// forgotten first; a network still hammering stays fresh, so a flood cannot flush its lockout.
export const MAX_THROTTLED_NETWORKS = 20_000;

export type ThrottleVerdict =
  | { action: "refuse"; retryAfterMs: number }
  | { action: "delay"; delayMs: number };

export class AuthThrottle {
  private addresses = new LRUCache<string, AddressState>({ max: MAX_THROTTLED_NETWORKS });

  constructor(
    private readonly settings: ThrottleSettings = DEFAULT_THROTTLE,
    private readonly now: () => number = Date.now,
  ) {}

  /** Counts one failed authentication and says how to answer it. */
  recordFailure(address: string): ThrottleVerdict {
    const now = this.now();
    const network = throttleKey(address);
    let state = this.addresses.get(network);
    if (!state || (now - state.windowStart >= this.settings.windowMs && now >= state.lockedUntil)) {
      state = { windowStart: now, failures: 0, lockedUntil: 0 };
      this.addresses.set(network, state);
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

  /** Networks currently tracked (bounded by MAX_THROTTLED_NETWORKS). */
  get size(): number {
    return this.addresses.size;
  }
}

/**
 * What failures are counted against: an IPv4 address (IPv4-mapped IPv6 counts as its IPv4
 * address), or an IPv6 address's /64. Anything else (no socket address) counts as itself.
 */
export function throttleKey(address: string): string {
  const bare = address.replace(/%.*$/, "");
  if (isIP(bare) !== 6) return address;
  const groups = ipv6Groups(bare);
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) {
    const [hi = 0, lo = 0] = groups.slice(6);
    return [hi >> 8, hi & 0xff, lo >> 8, lo & 0xff].join(".");
  }
  return `${groups
    .slice(0, 4)
    .map((g) => g.toString(16))
    .join(":")}::/64`;
}

/** The eight 16-bit groups of a valid IPv6 address (`::` expanded, a dotted IPv4 tail converted). */
function ipv6Groups(address: string): number[] {
  let text = address.toLowerCase();
  const dotted = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (dotted) {
    const [a, b, c, d] = dotted.slice(1).map(Number) as [number, number, number, number];
    text = `${text.slice(0, dotted.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head = "", tail] = text.split("::");
  const parse = (part: string) => (part === "" ? [] : part.split(":").map((g) => Number.parseInt(g, 16)));
  const left = parse(head);
  const right = tail === undefined ? [] : parse(tail);
  return [...left, ...new Array<number>(8 - left.length - right.length).fill(0), ...right];
}
