// Output checks on model text, whole or streamed: canary and system-prompt leaks block the
// output, exfiltration links to hosts not allow-listed are removed, and secrets are redacted.

import { randomId } from "../random-ids.ts";
import { redactSecrets } from "./redact.ts";

export interface OutputCheckOptions {
  canary: string;
  systemPrompt: string;
  allowedLinkHosts?: string[];
}

export interface OutputCheckResult {
  text: string;
  blocked: boolean;
  flags: string[];
}

export interface OutputStreamGuard {
  push(delta: string): { emit: string; blocked: boolean; flags: string[] };
  end(): { emit: string; blocked: boolean; flags: string[] };
}

export function newCanary(): string {
  return `cnry-${randomId(9, "base64url")}`;
}

// A leak is a verbatim stretch this long; shorter overlaps are ordinary phrases.
const LEAK_CHUNK = 48;
const LEAK_STRIDE = 24;
// Held back from release so a canary, secret or link split across deltas is seen whole.
const HOLD_BACK = 256;
const MAX_LINK_HOLD = 4096;

const normalizeForLeak = (s: string) => s.replace(/\s+/g, " ").toLowerCase();

/** Chunks at a fixed stride: any verbatim stretch of LEAK_CHUNK + LEAK_STRIDE contains one. */
function leakChunks(systemPrompt: string, canary: string): string[] {
  const text = normalizeForLeak(systemPrompt.split(canary).join(" "));
  const chunks: string[] = [];
  for (let i = 0; i + LEAK_CHUNK <= text.length; i += LEAK_STRIDE) chunks.push(text.slice(i, i + LEAK_CHUNK));
  return chunks;
}

const MARKDOWN_LINK =
  /(!?)\[([^\]\n]{0,500})\]\(\s{0,4}<?(https?:\/\/[^\s)>]{1,2000})>?(?:\s{1,4}"[^"\n]{0,200}")?\s{0,4}\)/g;

function hostAllowed(url: string, allowed: string[]): boolean {
  try {
    const host = new URL(url).hostname.toLowerCase();
    return allowed.some((a) => host === a.toLowerCase() || host.endsWith(`.${a.toLowerCase()}`));
  } catch {
    return false;
  }
}

function stripLinks(text: string, allowed: string[], flags: Set<string>): string {
  return text.replace(MARKDOWN_LINK, (whole, bang: string, label: string, url: string) => {
    // A query string is where an injected instruction puts the data it wants carried away.
    if (!url.includes("?") || hostAllowed(url, allowed)) return whole;
    flags.add(bang ? "exfiltration_image_removed" : "exfiltration_link_removed");
    return bang ? "[image removed]" : label;
  });
}

export function createOutputStreamGuard(opts: OutputCheckOptions): OutputStreamGuard {
  const allowed = opts.allowedLinkHosts ?? [];
  const chunks = leakChunks(opts.systemPrompt, opts.canary);
  const canary = opts.canary.toLowerCase();
  const flags = new Set<string>();
  let pending = "";
  // The tail of already released text, kept so leaks straddling a release are still matched.
  let releasedTail = "";
  let blocked = false;

  const inspect = () => {
    const window = (releasedTail + pending).toLowerCase();
    // Zero-width padding or spacing inserted into a canary must not hide it.
    if (window.includes(canary) || window.replace(/[\s\u200b-\u200d\u2060\u00ad]/g, "").includes(canary)) {
      flags.add("canary_leak");
      blocked = true;
    }
    const normalized = normalizeForLeak(window);
    if (chunks.some((c) => normalized.includes(c))) {
      flags.add("system_prompt_leak");
      blocked = true;
    }
  };

  const release = (upTo: number) => {
    const out = pending.slice(0, upTo);
    pending = pending.slice(upTo);
    releasedTail = (releasedTail + out).slice(-(HOLD_BACK + LEAK_CHUNK + canary.length));
    const redacted = redactSecrets(stripLinks(out, allowed, flags));
    for (const kind of redacted.applied) flags.add(`redacted:${kind}`);
    return redacted.text;
  };

  const cutPoint = () => {
    let cut = Math.max(0, pending.length - HOLD_BACK);
    // Never split inside whitespace-free runs (secrets) or an unclosed markdown link.
    const space = pending.lastIndexOf(" ", cut);
    const newline = pending.lastIndexOf("\n", cut);
    cut = Math.max(space, newline) + 1;
    if (cut === 0 && pending.length > MAX_LINK_HOLD * 2) cut = pending.length - HOLD_BACK;
    const open = pending.lastIndexOf("[", cut);
    if (open >= 0 && pending.indexOf(")", open) < 0 && pending.length - open < MAX_LINK_HOLD) cut = open;
    return cut;
  };

  const result = (emit: string) => ({ emit, blocked, flags: [...flags] });

  return {
    push(delta) {
      if (blocked) return result("");
      pending += delta;
      inspect();
      if (blocked) {
        pending = "";
        return result("");
      }
      return result(release(cutPoint()));
    },
    end() {
      if (blocked) return result("");
      inspect();
      if (blocked) {
        pending = "";
        return result("");
      }
      return result(release(pending.length));
    },
  };
}

export function checkOutput(output: string, opts: OutputCheckOptions): OutputCheckResult {
  const guard = createOutputStreamGuard(opts);
  const first = guard.push(output);
  const last = guard.end();
  const blocked = first.blocked || last.blocked;
  return { text: blocked ? "" : first.emit + last.emit, blocked, flags: last.flags };
}
