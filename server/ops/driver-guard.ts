// postgres-js 3.4.x can throw from a timer after a connection to the server was lost: a batched
// write scheduled with setImmediate runs after the socket is gone (`socket.write` on null,
// src/connection.js nextWrite; upstream porsager/postgres#1154 and #1208, fixes unmerged). The
// throw is uncatchable by callers and would kill the whole server during a database outage,
// which must instead fail calls closed and recover. Dropping that write is what the upstream
// fix does; any other uncaught exception still ends the process.
import type { Logger } from "../logger.ts";

export function isLostConnectionWrite(error: unknown): boolean {
  return (
    error instanceof TypeError &&
    /Cannot read properties of null \(reading 'write'\)/.test(error.message) &&
    /[\\/]node_modules[\\/]postgres[\\/]src[\\/]connection\.js/.test(error.stack ?? "")
  );
}

export function installDriverCrashGuard(logger: Logger): () => void {
  const onUncaught = (error: Error) => {
    if (isLostConnectionWrite(error)) {
      logger.warn("dropped a write to a lost database connection (postgres-js)", { error });
      return;
    }
    logger.error("uncaught exception", { error });
    process.exit(1);
  };
  process.on("uncaughtException", onUncaught);
  return () => process.off("uncaughtException", onUncaught);
}
