// Output checks on model text, whole or streamed: canary and system-prompt leaks block the
// output, secrets are redacted, and links to hosts not allow-listed are removed (output-links).

import { randomId } from "../random-ids.ts";
import { linkPolicy, openTailStart, removeForeignLinks } from "./output-links.ts";
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
  /** Releases everything held (and `last`, the whole output when checking it in one piece). */
  end(last?: string): { emit: string; blocked: boolean; flags: string[] };
}

export function newCanary(): string {
  return `cnry-${randomId(9, "base64url")}`;
}

// A leak is a stretch of this many letters and digits, in order; shorter overlaps are ordinary
// phrases (an answer sharing the prompt's common words never lines up this many in a row).
const LEAK_CHUNK = 48;
const LEAK_STRIDE = 16;
// Held back from release so a canary, secret or link split across deltas is seen whole.
const HOLD_BACK = 256;
const MAX_LINK_HOLD = 4096;
// A check parses the carried block plus the held text, which grow with a long last block (a loose
// list, an HTML comment): run on every delta, the stream's checks cost the square of its length
// (a 16 KB paragraph in 20-character deltas took 4.9 s). A check runs once the text pushed since
// the last one is 1/CHECK_EVERY of what it parses, so checks parse at most CHECK_EVERY times the
// output (amortized linear); nothing is released between checks, so nothing goes unchecked.
const CHECK_EVERY = 8;

// Released text kept for leak matching: a leak spelled out with separators ("y, o, u") takes
// several characters per letter, so the tail covers a whole chunk written three apart.
const LEAK_TAIL = 4 * (LEAK_CHUNK + LEAK_STRIDE);

/**
 * Letters and digits only, case- and accent-folded (NFKD also maps full-width and other
 * compatibility forms): commas between words, spaced-out or dotted letters, line breaks,
 * zero-width characters and punctuation inserted into a leaked text do not hide it.
 */
const leakSkeleton = (s: string) =>
  s
    .normalize("NFKD")
    .replace(/[^\p{L}\p{N}]+/gu, "")
    .toLowerCase();

/** Chunks at a fixed stride: any stretch of LEAK_CHUNK + LEAK_STRIDE letters contains one. */
function leakChunks(systemPrompt: string, canary: string): string[] {
  const text = leakSkeleton(systemPrompt.split(canary).join(" "));
  const chunks: string[] = [];
  for (let i = 0; i + LEAK_CHUNK <= text.length; i += LEAK_STRIDE) chunks.push(text.slice(i, i + LEAK_CHUNK));
  return chunks;
}

export function createOutputStreamGuard(opts: OutputCheckOptions): OutputStreamGuard {
  const policy = linkPolicy(opts.allowedLinkHosts ?? []);
  const chunks = leakChunks(opts.systemPrompt, opts.canary);
  const canary = leakSkeleton(opts.canary);
  const flags = new Set<string>();
  let pending = "";
  // The tail of already released text, kept so leaks straddling a release are still matched.
  let releasedTail = "";
  // What the client was sent, from the start of its last top-level block (of an open code fence,
  // its opening and last line: LinkCheck.carry): links are checked on it plus the new text, since
  // the client renders the whole, not the pieces. Blocks before it are closed and parse alike
  // whatever follows, so they are not parsed again.
  let live = "";
  let blocked = false;
  // Characters pushed since the last check.
  let unchecked = 0;

  const block = (flag: string) => {
    flags.add(flag);
    blocked = true;
    pending = "";
  };

  const inspect = () => {
    const window = leakSkeleton(releasedTail + pending);
    if (window.includes(canary)) block("canary_leak");
    else if (chunks.some((c) => window.includes(c))) block("system_prompt_leak");
  };

  /** `last`: nothing follows (end), so no text is carried into a next check. */
  const release = (upTo: number, last: boolean) => {
    const out = pending.slice(0, upTo);
    pending = pending.slice(upTo);
    releasedTail = (releasedTail + out).slice(-(LEAK_TAIL + 4 * canary.length));
    const redacted = redactSecrets(out);
    for (const kind of redacted.applied) flags.add(`redacted:${kind}`);
    const checked = removeForeignLinks(live + redacted.text, policy, live.length);
    for (const flag of checked.flags) flags.add(flag);
    // Text already sent cannot be taken back: if the new text changes how it parses (a link
    // closed after its opening bracket was released), the stream stops instead.
    if (checked.unresolved || !checked.text.startsWith(live)) {
      block("output_links_unstable");
      return "";
    }
    const emit = checked.text.slice(live.length);
    if (!last) live = checked.carry();
    return emit;
  };

  const cutPoint = () => {
    let cut = Math.max(0, pending.length - HOLD_BACK);
    // Never split inside whitespace-free runs (secrets).
    const space = pending.lastIndexOf(" ", cut);
    const newline = pending.lastIndexOf("\n", cut);
    cut = Math.max(space, newline) + 1;
    if (cut === 0 && pending.length > MAX_LINK_HOLD * 2) cut = pending.length - HOLD_BACK;
    // Nor inside a link, image or HTML construct that may still be open (the parser's view).
    const open = openTailStart(live + pending, live.length) - live.length;
    if (open < cut && pending.length - open < MAX_LINK_HOLD) cut = open;
    return cut;
  };

  const result = (emit: string) => ({ emit, blocked, flags: [...flags] });

  return {
    push(delta) {
      if (blocked) return result("");
      pending += delta;
      unchecked += delta.length;
      if (unchecked * CHECK_EVERY < live.length + pending.length) return result("");
      unchecked = 0;
      // Leaks are looked for here too, before a release: the window then holds every earlier one.
      inspect();
      if (blocked) return result("");
      return result(release(cutPoint(), false));
    },
    end(last = "") {
      if (blocked) return result("");
      pending += last;
      inspect();
      if (blocked) return result("");
      return result(release(pending.length, true));
    },
  };
}

export function checkOutput(output: string, opts: OutputCheckOptions): OutputCheckResult {
  const checked = createOutputStreamGuard(opts).end(output);
  return { text: checked.blocked ? "" : checked.emit, blocked: checked.blocked, flags: checked.flags };
}
