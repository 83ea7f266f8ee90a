// The caller's address: the socket peer, unless that peer is a trusted proxy, in which case
// the right-most X-Forwarded-For hop that is not itself a trusted proxy.
import { type BlockList, isIP } from "node:net";

function normalize(address: string): string {
  return address.startsWith("::ffff:") && isIP(address.slice(7)) === 4 ? address.slice(7) : address;
}

function isTrusted(trusted: BlockList, address: string): boolean {
  const family = isIP(address);
  return family !== 0 && trusted.check(address, family === 4 ? "ipv4" : "ipv6");
}

export function clientAddress(
  remote: string | undefined,
  forwardedFor: string | undefined,
  trusted: BlockList,
): string {
  const peer = normalize(remote ?? "unknown");
  if (!isTrusted(trusted, peer) || !forwardedFor) return peer;
  const hops = forwardedFor
    .split(",")
    .map((h) => normalize(h.trim()))
    .filter((h) => isIP(h) !== 0);
  for (let i = hops.length - 1; i >= 0; i--) {
    const hop = hops[i];
    if (hop && !isTrusted(trusted, hop)) return hop;
  }
  return hops[0] ?? peer;
}
