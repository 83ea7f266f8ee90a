// What a procedure's typed result gives its final record. Each scoped procedure names its
// projection where it is built (server/trpc.ts requires one), so none can forget it.
import type { TRPC_ERROR_CODE_KEY } from "@trpc/server";
import type { Reason } from "../errors.ts";

/** What the final record keeps of a successful result. */
export interface AuditedOutput {
  output: string | null;
  details?: Record<string, unknown>;
}

/** The events a streamed procedure yields: text, then exactly one `done` or `error` last. */
export type StreamEvent =
  | { type: "delta"; text: string }
  | { type: "done" }
  | { type: "error"; code: TRPC_ERROR_CODE_KEY; reason: Reason };

/**
 * How a procedure's result (or its stream's `done` event and streamed text) reaches the record.
 * Declared as methods so one Meta type holds every procedure's projection; scopedProcedure
 * (server/trpc.ts) types each against its own procedure's result.
 */
export type AuditProjection =
  | { kind: "result"; project(result: unknown): AuditedOutput }
  | { kind: "stream"; project(done: unknown, streamed: string): AuditedOutput };
