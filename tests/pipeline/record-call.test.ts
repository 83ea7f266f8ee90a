// recordCall, on procedures built for the test with the real builders and services: one final
// record per call, whatever way it ends; a stream is recorded before its last event (recognised
// by its `type`) leaves; errors the pipeline recorded say so (the HTTP layer records the rest).
import { TRPCError } from "@trpc/server";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { createContext } from "../../server/context.ts";
import {
  createCallerFactory,
  nothingAudited,
  router,
  scopedProcedure,
  wasAudited,
} from "../../server/trpc.ts";
import { requestInfo, useTestServices } from "../helpers/services.ts";
import { finalRecords, keyHolding } from "./support.ts";

type Event =
  | { type: "delta"; text: string }
  | { type: "done"; note: string }
  | { type: "error"; code: "BAD_GATEWAY"; reason: "model_error" };

const script = { events: [] as Event[], throwAfter: false };

const probe = scopedProcedure({ scopes: [], input: z.strictObject({}) });
const testRouter = router({
  stream: probe.stream(
    async function* () {
      for (const event of script.events) yield event;
      if (script.throwAfter) throw new Error("boom");
    },
    (done, streamed) => ({ output: streamed, details: { note: done.note } }),
  ),
  badProjection: probe.query(
    () => 1,
    () => {
      throw new Error("projection bug");
    },
  ),
  plain: probe.query(() => 1, nothingAudited),
});

const services = useTestServices();

async function caller(withKey = true) {
  const s = services();
  const key = withKey ? (await keyHolding(s, [])).plaintext : undefined;
  const info = requestInfo({ authorization: key === undefined ? undefined : `Bearer ${key}` });
  return createCallerFactory(testRouter)(createContext(s, info));
}

const outcomes = async () =>
  (await finalRecords(services().database)).map((r) => [r.procedure, r.outcome, r.reason, r.output]);

describe("recordCall", () => {
  it("records a stream before its done event leaves, with the streamed text as output", async () => {
    script.events = [
      { type: "delta", text: "a" },
      { type: "delta", text: "b" },
      { type: "done", note: "n" },
    ];
    script.throwAfter = false;
    const seen: Event[] = [];
    let finalsAtDone = -1;
    for await (const event of await (await caller()).stream({})) {
      seen.push(event);
      if (event.type === "done") finalsAtDone = (await finalRecords(services().database)).length;
    }
    expect(seen.map((e) => e.type)).toEqual(["delta", "delta", "done"]);
    expect(finalsAtDone).toBe(1);
    expect(await outcomes()).toEqual([["stream", "ok", null, "ab"]]);
    expect((await finalRecords(services().database))[0]?.details).toEqual({ note: "n" });
  });

  it("records an error event with its code and reason, once", async () => {
    script.events = [
      { type: "delta", text: "a" },
      { type: "error", code: "BAD_GATEWAY", reason: "model_error" },
    ];
    script.throwAfter = false;
    for await (const _ of await (await caller()).stream({})) {
      // drain
    }
    expect(await outcomes()).toEqual([["stream", "error", "model_error", null]]);
  });

  it("records a consumer that leaves early as client_closed, once", async () => {
    script.events = [
      { type: "delta", text: "a" },
      { type: "delta", text: "b" },
      { type: "done", note: "n" },
    ];
    script.throwAfter = false;
    for await (const _ of await (await caller()).stream({})) break;
    expect(await outcomes()).toEqual([["stream", "error", "client_closed", null]]);
  });

  it("records a stream that throws, and the error says it was recorded", async () => {
    script.events = [{ type: "delta", text: "a" }];
    script.throwAfter = true;
    const failure = await (async () => {
      for await (const _ of await (await caller()).stream({})) {
        // drain
      }
    })().catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(TRPCError);
    expect(wasAudited(failure as TRPCError)).toBe(true);
    expect(await outcomes()).toEqual([["stream", "error", "internal_error", null]]);
  });

  it("refuses and records a result whose audit projection throws", async () => {
    const failure = await (await caller()).badProjection({}).catch((error: unknown) => error);
    expect(failure).toMatchObject({ code: "INTERNAL_SERVER_ERROR" });
    expect(wasAudited(failure as TRPCError)).toBe(true);
    expect(await outcomes()).toEqual([["badProjection", "error", "internal_error", null]]);
  });

  it("marks refusals of the pipeline as recorded, and no other error", async () => {
    const refusal = await (await caller(false)).plain({}).catch((error: unknown) => error);
    expect(refusal).toMatchObject({ code: "UNAUTHORIZED" });
    expect(wasAudited(refusal as TRPCError)).toBe(true);
    expect(wasAudited(new TRPCError({ code: "NOT_FOUND" }))).toBe(false);
    expect(await (await caller()).plain({})).toBe(1);
  });
});
