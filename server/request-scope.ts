// Carries the HTTP layer's request id through tRPC internals, for errors raised before a
// context exists (e.g. an unparseable batch).
import { AsyncLocalStorage } from "node:async_hooks";

const store = new AsyncLocalStorage<{ requestId: string }>();

export function runInRequestScope<T>(requestId: string, fn: () => T): T {
  return store.run({ requestId }, fn);
}

export function currentRequestId(): string | null {
  return store.getStore()?.requestId ?? null;
}
