// Wires the audit writer to its sinks from configuration (checkpoint signing, the file dir,
// the spool) and runs its background duties: a checkpoint every interval, spool replay after
// an outage, and a final checkpoint at shutdown.
import type { DatabaseHandle } from "../../db/index.ts";
import type { Config } from "../config.ts";
import type { Logger } from "../logger.ts";
import { newWriterId } from "./chain.ts";
import { CheckpointSink } from "./checkpoint.ts";
import { AuditSpool } from "./spool.ts";
import { AuditWriter } from "./writer.ts";

// How often a writer with spooled records tries the database again.
const SPOOL_RETRY_MS = 5_000;

export function createAuditWriter(
  database: DatabaseHandle,
  config: Config,
  logger: Logger,
  now: () => Date,
): AuditWriter {
  const auditKey = config.auditKey[0];
  if (!auditKey) throw new Error("no audit key configured");
  const { dir, signingKey } = config.audit;
  if (!signingKey) logger.warn("no audit signing key: checkpoints are not written (verify-only setup)");
  const writerId = newWriterId();
  return new AuditWriter(database, auditKey, {
    now,
    logger,
    writerId,
    checkpointEvery: config.audit.checkpointEvery,
    checkpoints: signingKey ? new CheckpointSink(database.db, signingKey, dir, logger) : undefined,
    spool: dir ? new AuditSpool(dir, writerId) : undefined,
  });
}

export interface AuditDuties {
  /** Stops the timers and signs the final checkpoint (after the writer drained). */
  stop(): Promise<void>;
}

/** Starts the interval checkpoint and spool replay (including spools a crashed process left). */
export function startAuditDuties(writer: AuditWriter, config: Config, logger: Logger): AuditDuties {
  const replay = () =>
    writer.replaySpool().then(
      (count) => {
        if (count > 0) logger.info("audit spool replayed", { writerId: writer.writerId, records: count });
      },
      (error: unknown) => logger.warn("audit spool replay deferred", { writerId: writer.writerId, error }),
    );
  const checkpointTimer = setInterval(() => {
    writer.checkpoint("periodic").catch(() => {});
  }, config.audit.checkpointIntervalMs);
  const replayTimer = setInterval(() => {
    void replay();
  }, SPOOL_RETRY_MS);
  checkpointTimer.unref();
  replayTimer.unref();
  const initial = config.audit.dir ? replay() : Promise.resolve();
  return {
    async stop() {
      clearInterval(checkpointTimer);
      clearInterval(replayTimer);
      await initial;
      await writer.drain();
      await writer.checkpoint("final").catch(() => {});
    },
  };
}
