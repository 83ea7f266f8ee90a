// linkedAbort (server/abort.ts): follows its sources and its timeout, and lets go of them.
import { describe, expect, it } from "vitest";
import { linkedAbort } from "../../server/abort.ts";

describe("linkedAbort", () => {
  it("aborts with a source's reason, and after its timeout as a timeout", async () => {
    const source = new AbortController();
    const linked = linkedAbort([source.signal, undefined]);
    source.abort(new Error("client left"));
    expect(linked.signal.aborted).toBe(true);
    expect((linked.signal.reason as Error).message).toBe("client left");
    expect(linked.timedOut).toBe(false);

    const timed = linkedAbort([new AbortController().signal], 20);
    await new Promise((resolve) => timed.signal.addEventListener("abort", resolve));
    expect(timed.timedOut).toBe(true);
    expect((timed.signal.reason as DOMException).name).toBe("TimeoutError");
  });

  it("starts aborted when a source already is", () => {
    const source = new AbortController();
    source.abort();
    expect(linkedAbort([source.signal], 10_000).signal.aborted).toBe(true);
  });

  it("once disposed, neither a source nor the timer reaches it", async () => {
    const source = new AbortController();
    const linked = linkedAbort([source.signal], 20);
    linked.dispose();
    source.abort();
    await new Promise((resolve) => setTimeout(resolve, 40));
    expect(linked.signal.aborted).toBe(false);
    expect(linked.timedOut).toBe(false);
  });
});
