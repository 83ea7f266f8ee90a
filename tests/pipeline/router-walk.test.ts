// Walks the whole router: every procedure is either built by `scopedProcedure` (recordCall ->
// authenticateCaller -> requireProcedureScopes -> input parser -> requireInputScopes ->
// admitCall or takeRateSlotStep -> handler, with an audit projection) or explicitly public.
// Steps are identified by the named middlewares server/trpc.ts composes, in order.
import type { AnyMiddlewareFunction } from "@trpc/server";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { admitCall, takeRateSlotStep } from "../../server/pipeline/admit.ts";
import {
  authenticateCaller,
  requireInputScopes,
  requireProcedureScopes,
} from "../../server/pipeline/authorize.ts";
import { recordCall } from "../../server/pipeline/record-call.ts";
import { appRouter } from "../../server/routers/app.ts";
import {
  auditedProcedure,
  authorizedProcedure,
  type Meta,
  nothingAudited,
  publicProcedure,
  router,
  scopedProcedure,
} from "../../server/trpc.ts";

/** Procedures allowed without a key. Adding one here is a reviewed decision. */
const PUBLIC_PROCEDURES: readonly string[] = [];

// The router's public types hide `_def.middlewares`; this is the runtime shape tRPC v11 builds
// (the last middleware runs the procedure's handler).
type Middleware = AnyMiddlewareFunction & { _type?: string };
interface ProcedureShape {
  _def: { meta?: Meta; middlewares: Middleware[] };
}

function proceduresOf(value: { _def: { procedures: object } }): Map<string, ProcedureShape> {
  return new Map(Object.entries(value._def.procedures as Record<string, ProcedureShape>));
}

const STEPS = {
  recordCall,
  authenticateCaller,
  requireProcedureScopes,
  requireInputScopes,
  admitCall,
  takeRateSlotStep,
} as const satisfies Record<string, Middleware>;

/** The names of a procedure's steps, in order: a named step, `input`, `handler` (last), or `unnamed`. */
function stepsOf(procedure: ProcedureShape): string[] {
  const { middlewares } = procedure._def;
  return middlewares.map((m, i) => {
    if (i === middlewares.length - 1) return "handler";
    if (m._type === "input") return "input";
    return Object.entries(STEPS).find(([, step]) => step === m)?.[0] ?? "unnamed";
  });
}

const HEAD = ["recordCall", "authenticateCaller", "requireProcedureScopes", "input", "requireInputScopes"];
const SCOPED: readonly (readonly string[])[] = [
  [...HEAD, "admitCall", "handler"],
  [...HEAD, "takeRateSlotStep", "handler"],
];
const PUBLIC = ["recordCall", "handler"];

const same = (a: readonly string[], b: readonly string[]) => a.join(" -> ") === b.join(" -> ");

/** Everything wrong with how a procedure was built; empty when it is scoped or allowed public. */
function builderProblems(path: string, procedure: ProcedureShape): string[] {
  const { meta } = procedure._def;
  const steps = stepsOf(procedure);
  if (meta?.access === "public") {
    const problems: string[] = [];
    if (!PUBLIC_PROCEDURES.includes(path)) problems.push(`${path}: public but not in the allow-list`);
    if (steps[0] !== "recordCall") problems.push(`${path}: public without recordCall`);
    return problems;
  }
  if (meta?.access !== "scoped") return [`${path}: meta.access is neither "scoped" nor "public"`];
  if (!SCOPED.some((expected) => same(steps, expected)))
    return [`${path}: steps are ${steps.join(" -> ")}, not those of scopedProcedure`];
  if (!meta.audit) return [`${path}: no audit projection`];
  if ((meta.audit.kind === "stream") !== (meta.streamed === true))
    return [`${path}: a streamed procedure needs a stream projection, and only it`];
  return [];
}

describe("the router walk", () => {
  it("names every step the builders compose", () => {
    const probe = (admit: boolean) =>
      proceduresOf(
        router({
          p: admit
            ? scopedProcedure({ scopes: [], input: z.strictObject({}) }).query(() => null, nothingAudited)
            : scopedProcedure({ scopes: [], input: z.strictObject({}), admit: false }).query(
                () => null,
                nothingAudited,
              ),
        }),
      ).get("p") as ProcedureShape;
    expect(stepsOf(probe(true))).toEqual(SCOPED[0]);
    expect(stepsOf(probe(false))).toEqual(SCOPED[1]);
    const pub = proceduresOf(router({ p: publicProcedure.query(() => null) })).get("p") as ProcedureShape;
    expect(stepsOf(pub)).toEqual(PUBLIC);
    // The steps are named functions, so a stack trace or profile names them too.
    for (const [name, step] of Object.entries(STEPS)) expect(step.name).toBe(name);
  });

  it("every procedure of appRouter is scoped or explicitly public", () => {
    const procedures = proceduresOf(appRouter);
    expect(procedures.size).toBeGreaterThanOrEqual(11);
    const problems = [...procedures].flatMap(([path, procedure]) => builderProblems(path, procedure));
    expect(problems).toEqual([]);
  });

  it("the allow-list names only procedures that exist and are public", () => {
    const procedures = proceduresOf(appRouter);
    for (const path of PUBLIC_PROCEDURES) expect(procedures.get(path)?._def.meta?.access).toBe("public");
  });

  it("rejects procedures that only claim to be scoped or skip a step", () => {
    const input = z.strictObject({ source: z.string() });
    const fakes = proceduresOf(
      router({
        // Claims "scoped" but never authenticates: the case the walk exists for.
        claimOnly: auditedProcedure.meta({ access: "scoped" }).query(() => null),
        claimWithInput: auditedProcedure
          .meta({ access: "scoped" })
          .input(input)
          .query(() => null),
        noInput: authorizedProcedure.meta({ access: "scoped" }).query(() => null),
        noAdmission: authorizedProcedure
          .meta({ access: "scoped" })
          .input(input)
          .use(requireInputScopes)
          .query(() => null),
        handRolledAdmission: authorizedProcedure
          .meta({ access: "scoped" })
          .input(input)
          .use(requireInputScopes)
          .use(({ next }) => next())
          .query(() => null),
        // Every step, but no audit projection: its output would be lost from the record.
        noProjection: authorizedProcedure
          .meta({ access: "scoped" })
          .input(input)
          .use(requireInputScopes)
          .use(admitCall)
          .query(() => null),
        noMeta: auditedProcedure.query(() => null),
        unlistedPublic: publicProcedure.query(() => null),
      }),
    );
    for (const [path, procedure] of fakes) {
      expect(builderProblems(path, procedure), path).not.toEqual([]);
    }
    // And a genuine one passes, so the checker is not simply refusing everything.
    const genuine = proceduresOf(
      router({ ok: scopedProcedure({ scopes: ["admin:keys"], input }).query(() => null, nothingAudited) }),
    );
    expect(builderProblems("ok", genuine.get("ok") as ProcedureShape)).toEqual([]);
  });

  it("a scoped procedure without its audit projection does not typecheck", () => {
    const builder = scopedProcedure({ scopes: [], input: z.strictObject({}) });
    const ofNumber = (r: number) => ({ output: `${r}` });
    // @ts-expect-error the audit projection is required
    const missing = () => builder.query(() => "x");
    // @ts-expect-error the projection is typed against the handler's result
    const mistyped = () => builder.query(() => "x", ofNumber);
    expect([missing, mistyped]).toHaveLength(2);
  });
});
