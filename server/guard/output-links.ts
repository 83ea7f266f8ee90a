// Exfiltration links in model output, found by parsing it as a client would render it
// (CommonMark + GFM + raw HTML): every construct that would fetch or open a URL off the allow-list
// is cut out of the text, and the stream asks here how much of its tail may still change.
//
// Parser: mdast-util-from-markdown with the GFM extensions (micromark, the CommonMark reference
// parser of the unified collective) gives every node its source offsets, so removals are exact
// spans of the original text; parse5 (the WHATWG HTML parser browsers follow) reads raw HTML.
import type { Nodes, Parent, Root, Text } from "mdast";
import { fromMarkdown, type Options as MarkdownOptions } from "mdast-util-from-markdown";
import { gfmFromMarkdown } from "mdast-util-gfm";
import { setextUnderline } from "micromark-core-commonmark";
import { gfm } from "micromark-extension-gfm";
import { type DefaultTreeAdapterMap, parseFragment } from "parse5";

export type LinkFlag =
  | "exfiltration_link_removed"
  | "exfiltration_image_removed"
  | "exfiltration_html_removed"
  | "long_paragraph_split";

export interface LinkPolicy {
  /** Lower-case, IDNA-normalized hosts (exact match: a subdomain can carry data too). */
  hosts: ReadonlySet<string>;
}

export function linkPolicy(allowedHosts: readonly string[]): LinkPolicy {
  const hosts = new Set<string>();
  for (const host of allowedHosts) {
    try {
      hosts.add(new URL(`https://${host.trim()}/`).hostname);
    } catch {
      // A malformed entry allows nothing.
    }
  }
  return { hosts };
}

// Relative URLs resolve against the page that renders the output: a host no allow-list holds.
const PAGE = "https://page.invalid/";

/** Whether a browser given this href/src would fetch or open only an allow-listed host. */
function urlAllowed(raw: string, policy: LinkPolicy): boolean {
  let url: URL;
  try {
    url = new URL(raw, PAGE);
  } catch {
    return false;
  }
  // A link to a fragment of the same document (GFM footnotes) leaves nothing.
  if (url.href.startsWith(`${PAGE}#`) && raw.trim().startsWith("#")) return true;
  if (url.protocol !== "https:" && url.protocol !== "http:") return false;
  if (url.username !== "" || url.password !== "") return false;
  return policy.hosts.has(url.hostname);
}

// The autolink-literal tree transform (what remark-gfm clients run) is applied separately, per
// text node: it creates links without source offsets, and an escape does not stop it.
const markdownExtensions = gfmFromMarkdown().map(({ transforms: _, ...rest }) => rest);
const literalTransforms = gfmFromMarkdown().flatMap((e) => e.transforms ?? []);
// micromark's setext heading resolver rebuilds every event of the flow so far (an EditMap over the
// whole list) for each heading, and the flow spans the document outside containers, so
// "=\n".repeat(8000) took 4 s (quadratic). The same resolver is run on the events from the
// heading's content on (all it reads or edits), which are put back in place: the same events, in
// time proportional to the heading.
const resolveSetextTail: NonNullable<typeof setextUnderline.resolveTo> = (events, context) => {
  let start = events.length;
  while (start-- > 0) {
    const [kind, token] = events[start] ?? [];
    if (kind === "enter" && token?.type === "content") break;
  }
  const tail = setextUnderline.resolveTo?.(events.slice(start), context) ?? [];
  events.length = start;
  for (const event of tail) events.push(event);
  return events;
};
const setextUnderlineLinear = {
  ...setextUnderline,
  name: "setextUnderlineTail",
  resolveTo: resolveSetextTail,
};
const linearSetext: NonNullable<MarkdownOptions["extensions"]>[number] = {
  disable: { null: ["setextUnderline"] },
  flow: { 45: setextUnderlineLinear, 61: setextUnderlineLinear },
};
const syntax = [gfm(), linearSetext];

function parseMarkdown(text: string): Root {
  return fromMarkdown(text, { extensions: syntax, mdastExtensions: markdownExtensions });
}

interface Cut {
  start: number;
  end: number;
  replacement: string;
  flag: LinkFlag | null;
}

// `<` and `&` are written as character references wherever the check rewrites text, never
// backslash-escaped: a renderer that reads the line as part of an HTML block (a list item opened by
// a tag continues one in some renderers) ignores a backslash, but shows `&lt;` and `&amp;` as the
// same `<` and `&` in Markdown and HTML alike, so neither can open a tag or a reference there.
const asText = (ch: string) => (ch === "<" ? "&lt;" : ch === "&" ? "&amp;" : `\\${ch}`);

// A `<` that CommonMark reads as text (`<img src=//x/p>` is not a valid tag to micromark) may
// still open a tag in a laxer renderer or in the browser: in text it is written as `&lt;`.
const RAW_TAG_OPEN = /(?<!\\)((?:\\\\)*)<(?=[A-Za-z!?/])/g;

// Every ASCII punctuation mark may be backslash-escaped in CommonMark: escaped text re-parses
// as the same text and can open no construct.
const escapeMarkdown = (s: string) => s.replace(/[!-/:-@[-`{-~]/g, asText);
// A kept label is escaped only where it could open a link, tag, code span or entity, so that
// clients showing the raw text see little noise. Replacements need no escape: what they could
// join with is caught by the next parse.
const escapeLabel = (s: string) => s.replace(/[\\[\]<>`!&]/g, asText);
const LINK_REMOVED = "(link removed)";
const IMAGE_REMOVED = "(image removed)";
/** A label that looks like an address is not kept as text: some clients link bare addresses. */
const ADDRESS_LIKE = /[:@/\\]|www\./i;

function plainText(node: Nodes): string {
  if ("value" in node && typeof node.value === "string") return node.value;
  if ("alt" in node && typeof node.alt === "string") return node.alt;
  return "children" in node ? node.children.map((c) => plainText(c as Nodes)).join("") : "";
}

function span(node: Nodes): { start: number; end: number } | null {
  const start = node.position?.start.offset;
  const end = node.position?.end.offset;
  return start === undefined || end === undefined ? null : { start, end };
}

function linkReplacement(node: Nodes): string {
  const label = plainText(node);
  return label.trim() === "" || ADDRESS_LIKE.test(label) ? LINK_REMOVED : escapeLabel(label);
}

// Renderers older or laxer than the GFM spec also link other schemes (marked: `ftp://`): any
// `scheme://` or `www.` run in text is treated as a link.
const BARE_ADDRESS = /(?:\b[A-Za-z][A-Za-z0-9+.-]{0,31}:\/\/|\bwww\.)[^\s<>]*/gi;

/**
 * Links a client could make of this text: those the GFM literal transform creates (as
 * remark-gfm clients see them) and bare `scheme://` addresses. Returns the text with each
 * off-list one replaced, escaped, or null when there is none.
 */
function literalLinksIn(node: Text, policy: LinkPolicy): string | null {
  const root: Root = { type: "root", children: [{ type: "paragraph", children: [{ ...node }] }] };
  for (const transform of literalTransforms) transform(root);
  const paragraph = root.children[0];
  if (paragraph?.type !== "paragraph") return null;
  let bad = false;
  const bare = (text: string) =>
    text.replace(BARE_ADDRESS, (address) => {
      const url = /^www\./i.test(address) ? `http://${address}` : address;
      if (urlAllowed(url, policy)) return address;
      bad = true;
      return LINK_REMOVED;
    });
  const rewritten = paragraph.children
    .map((child) => {
      if (child.type !== "link") return bare(plainText(child));
      if (urlAllowed(child.url, policy)) return plainText(child);
      bad = true;
      return LINK_REMOVED;
    })
    .join("");
  return bad ? escapeMarkdown(rewritten) : null;
}

// Raw HTML: only these elements and attributes survive, and href/src only to allowed hosts.
// Everything else (style, srcset, poster, background, event handlers, forms, media, frames,
// comments, malformed tags) is removed, since it is either a fetch or an unknown.
const SAFE_ATTRIBUTES: Record<string, readonly string[]> = {
  a: ["href", "title"],
  img: ["src", "alt", "title", "width", "height"],
};
const PLAIN_ELEMENTS = new Set(
  (
    "b i em strong u s del ins mark small sub sup code kbd samp var pre br hr p span div " +
    "blockquote ul ol li dl dt dd h1 h2 h3 h4 h5 h6 table thead tbody tfoot tr th td caption abbr"
  ).split(" "),
);
const URL_ATTRIBUTES = new Set(["href", "src"]);
const CLOSING_TAG = /^<\/([A-Za-z][A-Za-z0-9-]*)\s*>$/;

type HtmlNode = DefaultTreeAdapterMap["childNode"];

function elementAllowed(element: DefaultTreeAdapterMap["element"], policy: LinkPolicy): boolean {
  const allowed = SAFE_ATTRIBUTES[element.tagName] ?? (PLAIN_ELEMENTS.has(element.tagName) ? [] : null);
  if (!allowed || element.namespaceURI !== "http://www.w3.org/1999/xhtml") return false;
  return element.attrs.every(
    (a) => allowed.includes(a.name) && (!URL_ATTRIBUTES.has(a.name) || urlAllowed(a.value, policy)),
  );
}

function htmlAllowed(nodes: HtmlNode[], policy: LinkPolicy): boolean {
  return nodes.every((node) => {
    if (node.nodeName === "#text") return true;
    if (!("tagName" in node)) return false;
    const children = node.tagName === "template" ? [] : node.childNodes;
    return elementAllowed(node, policy) && htmlAllowed(children, policy);
  });
}

/** Whether a raw HTML node (a tag, or an HTML block) is safe to keep as written. */
function rawHtmlAllowed(html: string, policy: LinkPolicy): boolean {
  const closing = CLOSING_TAG.exec(html.trim());
  if (closing?.[1]) {
    const name = closing[1].toLowerCase();
    return name in SAFE_ATTRIBUTES || PLAIN_ELEMENTS.has(name);
  }
  // Any parse error (a tag left open at the end, a bad attribute) is refused: a browser reading
  // the rendered page may join it with what follows and fetch from there.
  let malformed = false;
  const fragment = parseFragment(html, {
    onParseError: (error) => {
      if (error.code !== "end-tag-without-matching-open-element") malformed = true;
    },
  });
  return !malformed && htmlAllowed(fragment.childNodes, policy);
}

function collectCuts(text: string, root: Root, policy: LinkPolicy): Cut[] {
  const definitions = new Map<string, string>();
  const visitDefinitions = (node: Nodes) => {
    if (node.type === "definition" && !definitions.has(node.identifier))
      definitions.set(node.identifier, node.url);
    if ("children" in node) for (const child of node.children) visitDefinitions(child as Nodes);
  };
  visitDefinitions(root);

  const cuts: Cut[] = [];
  const cut = (node: Nodes, replacement: string, flag: LinkFlag) => {
    const at = span(node);
    // Every construct micromark builds has offsets; a node without them fails closed upward.
    if (!at) throw new UnmappedNode();
    cuts.push({ ...at, replacement, flag });
  };
  const visit = (node: Nodes) => {
    switch (node.type) {
      case "link":
        if (!urlAllowed(node.url, policy))
          return cut(node, linkReplacement(node), "exfiltration_link_removed");
        break;
      case "image":
        if (!urlAllowed(node.url, policy)) return cut(node, IMAGE_REMOVED, "exfiltration_image_removed");
        break;
      case "definition":
        if (!urlAllowed(node.url, policy)) return cut(node, "", "exfiltration_link_removed");
        break;
      case "linkReference":
      case "imageReference": {
        const url = definitions.get(node.identifier);
        if (url !== undefined && !urlAllowed(url, policy)) {
          return node.type === "linkReference"
            ? cut(node, linkReplacement(node), "exfiltration_link_removed")
            : cut(node, IMAGE_REMOVED, "exfiltration_image_removed");
        }
        break;
      }
      case "html":
        if (!rawHtmlAllowed(node.value, policy)) return cut(node, "", "exfiltration_html_removed");
        break;
      case "text": {
        const rewritten = literalLinksIn(node, policy);
        if (rewritten !== null) return cut(node, rewritten, "exfiltration_link_removed");
        const at = span(node);
        const source = at ? text.slice(at.start, at.end) : "";
        if (at && RAW_TAG_OPEN.test(source))
          cuts.push({ ...at, replacement: source.replace(RAW_TAG_OPEN, "$1&lt;"), flag: null });
        RAW_TAG_OPEN.lastIndex = 0;
        break;
      }
    }
    if ("children" in node) for (const child of (node as Parent).children) visit(child as Nodes);
  };
  visit(root);
  return cuts;
}

class UnmappedNode extends Error {}

function applyCuts(text: string, cuts: Cut[]): string {
  let out = "";
  let from = 0;
  for (const c of [...cuts].sort((a, b) => a.start - b.start)) {
    if (c.start < from) continue;
    out += text.slice(from, c.start) + c.replacement;
    from = c.end;
  }
  return out + text.slice(from);
}

export interface LinkCheck {
  text: string;
  flags: LinkFlag[];
  /** True when removals kept creating new constructs: the caller must not release the text. */
  unresolved: boolean;
  /**
   * What a stream parses again ahead of its next text: the result from the start of its last
   * top-level block (text before that block parses alike whatever follows), or, when that block is
   * a fenced code block still open, its opening line and unfinished last line only (code lines
   * change nothing that follows, so a long code block is not parsed again whole on every delta).
   * Computed on demand: after the last piece of an output nothing needs it.
   */
  carry(): string;
}

// micromark re-scans an unterminated inline construct (`<!--`, `<?`, `](`, `_*`) to the end of
// its paragraph, so parsing costs up to the square of a paragraph's length. A paragraph (outside
// fenced code, which is not parsed inline) is cut by a blank line every MAX_PARAGRAPH characters.
// Where a cut goes depends only on the text before it, so a stream can apply this to each new
// piece (`from`) and what it already sent stays as it was.
const MAX_PARAGRAPH = 2048;
const FENCE = /^ {0,3}(`{3,}|~{3,})/;
// A closing fence has nothing after its marker but spaces: "```js" inside a block is code.
const CLOSING_FENCE = /^ {0,3}(`{3,}|~{3,})[ \t]*\r?\n?$/;
const BLANK = /^[ \t]*$/;

function boundParagraphs(text: string, from: number): string {
  if (text.length - from <= MAX_PARAGRAPH && from === 0) return text;
  let fence: string | null = null;
  let run = 0;
  let offset = 0;
  let out = "";
  for (let line of text.split(/(?<=\n)/)) {
    const start = offset;
    offset += line.length;
    const marker = FENCE.exec(line)?.[1];
    if (fence !== null) {
      const closing = CLOSING_FENCE.exec(line)?.[1];
      if (closing && closing[0] === fence[0] && closing.length >= fence.length) fence = null;
    } else if (marker) {
      fence = marker;
      run = 0;
    } else if (BLANK.test(line)) run = 0;
    else {
      let piece = "";
      let rest = line;
      while (run + rest.length > MAX_PARAGRAPH) {
        const at = MAX_PARAGRAPH - run;
        // Text already sent was cut when it was new: never cut it again.
        const sent = start + (line.length - rest.length) + at < from;
        piece += rest.slice(0, at) + (sent ? "" : "\n\n");
        rest = rest.slice(at);
        run = 0;
      }
      run += rest.length;
      line = piece + rest;
    }
    out += line;
  }
  return out;
}

function carryOf(text: string, root: Root): string {
  const last = root.children.at(-1);
  const at = last && span(last);
  if (!last || !at) return text;
  const block = text.slice(at.start);
  if (last.type !== "code") return block;
  const openerEnd = block.indexOf("\n") + 1;
  const opener = FENCE.exec(block)?.[1];
  if (!opener || openerEnd === 0) return block;
  // Closed when its last line is a fence of the opener's character, at least as long.
  const end = at.end - at.start;
  const lastLine = block.slice(block.lastIndexOf("\n", end - 1) + 1, end);
  const closing = lastLine !== block.slice(0, end) ? CLOSING_FENCE.exec(lastLine)?.[1] : undefined;
  if (closing && closing[0] === opener[0] && closing.length >= opener.length) return block;
  return block.slice(0, openerEnd) + block.slice(Math.max(openerEnd, block.lastIndexOf("\n") + 1));
}

// Every construct collectCuts removes or rewrites needs one of these in the source: `[` (links,
// images, definitions, references), `<` (autolinks, raw HTML, a tag-like `<`), `@` (e-mail,
// mailto: and xmpp: literals), `://` (scheme literals, bare addresses), `www.` (www literals), or
// what can spell them in a text node without them in the source: `&` (a character reference) and
// `\` (an escape: `www\.x` is the text `www.x`). Text with none of them parses to nothing to cut,
// so it is not parsed: most answers are plain prose.
const MAY_HOLD_LINK = /[[<&@\\]|:\/\/|www\./i;

// A removal can join its neighbours into a new construct (`[a]<img…>(http://x)`): the result is
// parsed again until nothing is left to remove.
const MAX_PASSES = 4;

/**
 * The text with every link, image, definition and HTML construct off the allow-list removed.
 * `newFrom`: where text not yet sent begins (a stream rechecks what it sent plus the new text).
 */
export function removeForeignLinks(input: string, policy: LinkPolicy, newFrom = 0): LinkCheck {
  const flags = new Set<LinkFlag>();
  let text = boundParagraphs(input, newFrom);
  if (text !== input) flags.add("long_paragraph_split");
  const failed = () => ({ text: "", flags: [...flags], unresolved: true, carry: () => "" });
  if (!MAY_HOLD_LINK.test(text)) {
    const plain = text;
    return { text, flags: [...flags], unresolved: false, carry: () => carryOf(plain, parseMarkdown(plain)) };
  }
  for (let pass = 0; pass < MAX_PASSES; pass++) {
    const root = parseMarkdown(text);
    let cuts: Cut[];
    try {
      cuts = collectCuts(text, root, policy);
    } catch (error) {
      if (error instanceof UnmappedNode) return failed();
      throw error;
    }
    if (cuts.length === 0) {
      const kept = text;
      return { text, flags: [...flags], unresolved: false, carry: () => carryOf(kept, root) };
    }
    for (const c of cuts) if (c.flag) flags.add(c.flag);
    text = applyCuts(text, cuts);
  }
  return failed();
}

/**
 * Where, at or after `from`, the text's tail may still become (part of) a link, image,
 * definition or HTML construct when more text arrives: an unmatched `[`, `<` or backtick in
 * the last block's text, a trailing word (an autolink literal grows; `!` may start an image), a
 * last block of raw HTML or a definition (a title may follow).
 */
export function openTailStart(text: string, from: number): number {
  let open = text.length;
  const lastSpace = Math.max(text.lastIndexOf(" "), text.lastIndexOf("\n"), text.lastIndexOf("\t"));
  open = Math.min(open, lastSpace + 1);
  const root = parseMarkdown(text);
  const last = root.children.at(-1);
  const lastSpan = last && span(last);
  if (last && lastSpan && (last.type === "html" || last.type === "definition"))
    open = Math.min(open, lastSpan.start);
  // Inline constructs never cross a block: only the last top-level block can still open one.
  const lastStart = lastSpan?.start ?? 0;
  const scan = (node: Nodes) => {
    const at = span(node);
    if (at && (at.end <= from || at.end < lastStart)) return;
    if (node.type === "text" && at) {
      for (let i = at.start; i < at.end; i++) {
        const ch = text[i];
        if (ch === "\\") i++;
        else if (i >= from && (ch === "[" || ch === "<" || ch === "`")) {
          open = Math.min(open, i);
          return;
        }
      }
    }
    if ("children" in node) for (const child of (node as Parent).children) scan(child as Nodes);
  };
  scan(root);
  return Math.max(open, from);
}
