// What a client rendering model output would fetch or open: the output rendered to HTML by
// micromark (CommonMark + GFM, raw HTML allowed, its own protocol filter off) and by marked,
// read back by parse5, plus the URLs remark-gfm clients see (mdast with the autolink transform).

import { Marked } from "marked";
import type { Nodes } from "mdast";
import { fromMarkdown } from "mdast-util-from-markdown";
import { gfmFromMarkdown } from "mdast-util-gfm";
import { micromark } from "micromark";
import { gfm, gfmHtml } from "micromark-extension-gfm";
import { type DefaultTreeAdapterMap, parse } from "parse5";

const URL_ATTRIBUTES = [
  "href",
  "src",
  "srcset",
  "poster",
  "background",
  "action",
  "formaction",
  "data",
  "cite",
  "longdesc",
  "lowsrc",
  "ping",
  "xlink:href",
  "manifest",
  "codebase",
  "icon",
];

function urlsInHtml(html: string): string[] {
  const urls: string[] = [];
  const walk = (node: DefaultTreeAdapterMap["parentNode"] | DefaultTreeAdapterMap["childNode"]) => {
    if ("attrs" in node) {
      for (const { name, value } of node.attrs) {
        if (name === "srcset") urls.push(...value.split(",").map((s) => s.trim().split(/\s+/)[0] ?? ""));
        else if (URL_ATTRIBUTES.includes(name)) urls.push(value);
        else if (name === "style")
          for (const m of value.matchAll(/url\(\s*['"]?([^'")]*)/gi)) urls.push(m[1] ?? "");
        else if (name === "content" && /url=/i.test(value)) urls.push(value.replace(/^.*url=/i, ""));
      }
    }
    if (node.nodeName === "style" && "childNodes" in node) urls.push("style-element");
    if ("childNodes" in node) for (const child of node.childNodes) walk(child);
    if ("content" in node) walk(node.content);
  };
  walk(parse(html));
  return urls;
}

function urlsInMdast(markdown: string): string[] {
  const tree = fromMarkdown(markdown, { extensions: [gfm()], mdastExtensions: [gfmFromMarkdown()] });
  const urls: string[] = [];
  const walk = (node: Nodes) => {
    if ("url" in node && typeof node.url === "string") urls.push(node.url);
    if (node.type === "html") urls.push(...urlsInHtml(node.value));
    if ("children" in node) for (const child of node.children) walk(child as Nodes);
  };
  walk(tree);
  return urls;
}

const render = (markdown: string) =>
  micromark(markdown, {
    allowDangerousHtml: true,
    // The renderer's own protocol filter is off: the output check alone must hold.
    allowDangerousProtocol: true,
    extensions: [gfm()],
    htmlExtensions: [gfmHtml()],
  });

// A second, independent renderer (GFM on by default): what one parser reads as text another
// may read as a link.
const markedRenderer = new Marked({ gfm: true, async: false });
const renderWithMarked = (markdown: string) => markedRenderer.parse(markdown) as string;

/** URLs a client rendering `markdown` would fetch or open on a host not in `allowed`. */
export function foreignUrls(markdown: string, allowed: readonly string[]): string[] {
  const views = [render(markdown), renderWithMarked(markdown)];
  return [...views.flatMap(urlsInHtml), ...urlsInMdast(markdown)].filter((raw) => {
    if (raw.trim().startsWith("#")) return false;
    try {
      const url = new URL(raw, "https://page.invalid/");
      return !(["http:", "https:"].includes(url.protocol) && allowed.includes(url.hostname) && !url.username);
    } catch {
      return false;
    }
  });
}
