// Walks the whole router: every procedure is either built by `scopedProcedure` (audit ->
// authenticate -> procedure scopes -> input parser -> input scopes/admission) or explicitly public.
import type { AnyMiddlewareFunction } from "@trpc/server";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { appRouter } from "../../server/routers/app.ts";
import {
  auditedProcedure,
  authorizedProcedure,
  type Meta,
  publicProcedure,
  router,
  scopedProcedure,
} from "../../server/trpc.ts";

/** Procedures allowed without a key. Adding one here is a reviewed decision. */
const PUBLIC_PROCEDURES: readonly string[] = [];

// The router's public types hide `_def.middlewares`; this is the runtime shape tRPC v11 builds.
type Middleware = AnyMiddlewareFunction & { _type?: string };
interface ProcedureShape {
  _def: { meta?: Meta; middlewares: Middleware[] };
}

function proceduresOf(value: { _def: { procedures: object } }): Map<string, ProcedureShape> {
  return new Map(Object.entries(value._def.procedures as Record<string, ProcedureShape>));
}

const headOfScoped = authorizedProcedure._def.middlewares;
const headOfPublic = publicProcedure._def.middlewares;

// `scopedProcedure` makes a fresh closure for its input-scope/admission step on every call, so
// identity cannot name it; the same source text can (a hand-written stand-in differs).
const reference = proceduresOf(
  router({ probe: scopedProcedure({ scopes: [], input: z.strictObject({}) }).query(() => null) }),
).get("probe");
const admissionSource = reference?._def.middlewares[headOfScoped.length + 1]?.toString();

function startsWith(middlewares: readonly Middleware[], head: readonly Middleware[]): boolean {
  return head.every((m, i) => middlewares[i] === m);
}

/** Everything wrong with how a procedure was built; empty when it is scoped or allowed public. */
function builderProblems(path: string, procedure: ProcedureShape): string[] {
  const { meta, middlewares } = procedure._def;
  if (meta?.access === "public") {
    const problems: string[] = [];
    if (!PUBLIC_PROCEDURES.includes(path)) problems.push(`${path}: public but not in the allow-list`);
    if (!startsWith(middlewares, headOfPublic)) problems.push(`${path}: public without the audit middleware`);
    return problems;
  }
  if (meta?.access !== "scoped") return [`${path}: meta.access is neither "scoped" nor "public"`];
  if (!startsWith(middlewares, headOfScoped))
    return [`${path}: does not start with audit -> authenticate -> procedure scopes`];
  const parser = middlewares[headOfScoped.length];
  if (parser?._type !== "input") return [`${path}: the input parser does not follow the procedure scopes`];
  const admission = middlewares[headOfScoped.length + 1];
  if (admission === undefined || admission.toString() !== admissionSource)
    return [`${path}: the input-scope/admission step does not follow the input parser`];
  return [];
}

describe("the router walk", () => {
  it("finds the reference admission step it compares against", () => {
    expect(headOfScoped.length).toBeGreaterThan(headOfPublic.length);
    expect(admissionSource).toMatch(/admit/);
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
          .query(() => null),
        handRolledAdmission: authorizedProcedure
          .meta({ access: "scoped" })
          .input(input)
          .use(({ next }) => next())
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
      router({ ok: scopedProcedure({ scopes: ["admin:keys"], input }).query(() => null) }),
    );
    expect(builderProblems("ok", genuine.get("ok") as ProcedureShape)).toEqual([]);
  });
});
