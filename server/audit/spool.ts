// The outage spool: a record that cannot be written because the database is down is appended,
// fsync'd, to `spool-<writer>.jsonl` in the audit dir, and replayed into the writer's chain once
// the database answers again. Replay is idempotent (each line carries a spool id).
import { randomBytes } from "node:crypto";
import { readdir, readFile, rename, stat, unlink, utimes } from "node:fs/promises";
import { join } from "node:path";
import { and, eq, gte, inArray, isNotNull, lte, sql } from "drizzle-orm";
import { auditLog, type Database } from "../../db/index.ts";
import { withDatabase } from "../db-errors.ts";
import { appendDurably } from "./checkpoint.ts";
import type { AuditRecord } from "./record.ts";
import type { RedactedRecord } from "./redacted-record.ts";

interface SpoolLine {
  spoolId: string;
  at: string;
  record: AuditRecord;
}

// Another live process on a shared data dir replays its own file within seconds of recovery; a
// file untouched this long belongs to a process that died, and may be claimed.
const ORPHAN_AFTER_MS = 30_000;

export class AuditSpool {
  /** Appends and the claim of files run one at a time, so a claim never races an append. */
  private readonly writes = new Lane();
  /** One replay at a time, apart from the appends: a replay waiting on a hung database must
   * never hold a refusal back from the disk (its caller is owed an answer within 3 s). */
  private readonly replays = new Lane();
  private pending = false;

  constructor(
    readonly dir: string,
    private readonly writerId: string,
  ) {}

  /** True when this process has spooled records not yet replayed (or may have, after a restart). */
  get hasPending(): boolean {
    return this.pending;
  }

  /** Appends a record (redacted: caller text never reaches the disk raw) and resolves once it is on disk. */
  write(record: RedactedRecord, now: Date): Promise<void> {
    const line: SpoolLine = {
      spoolId: randomBytes(12).toString("base64url"),
      at: now.toISOString(),
      record: { ...record, ts: undefined },
    };
    return this.writes.run(async () => {
      await appendDurably(join(this.dir, `spool-${this.writerId}.jsonl`), JSON.stringify(line));
      this.pending = true;
    });
  }

  /**
   * Replays this writer's spool (and orphaned ones of dead writers) through `append`, then
   * removes the files. Returns how many records were written. Throws if the database is still
   * down; the files stay for the next attempt.
   */
  replay(db: Database, append: (records: AuditRecord[]) => Promise<void>): Promise<number> {
    return this.replays.run(async () => {
      // The live file is renamed away under the append lock: appends during the replay start a
      // fresh file, and the database work below runs without that lock.
      const files = await this.writes.run(async () => {
        const claimed = await this.claimFiles();
        this.pending = false;
        return claimed;
      });
      let written = 0;
      try {
        for (const path of files) {
          const lines = parseLines(await readFile(path, "utf8"));
          const records = await withDatabase(() => recordsToReplay(db, lines));
          if (records.length > 0) await append(records);
          await unlink(path);
          written += records.length;
        }
      } catch (error) {
        // The claimed files keep this writer's prefix: the next replay takes them up again.
        this.pending = true;
        throw error;
      }
      return written;
    });
  }

  private async claimFiles(): Promise<string[]> {
    let names: string[];
    try {
      names = (await readdir(this.dir)).filter((n) => n.startsWith("spool-") && n.endsWith(".jsonl"));
    } catch {
      return [];
    }
    const mine = `spool-${this.writerId}`;
    const claimed: string[] = [];
    // Claimed files are touched at every attempt, so while this process lives and retries (every
    // few seconds) no other process takes them for a dead writer's orphans.
    const touch = async (file: string) => {
      const now = new Date();
      await utimes(file, now, now);
      claimed.push(file);
    };
    for (const name of names) {
      const path = join(this.dir, name);
      // Files claimed by an earlier replay of this writer that did not finish.
      if (name.startsWith(`${mine}.`) && name !== `${mine}.jsonl`) {
        await touch(path);
        continue;
      }
      if (name !== `${mine}.jsonl`) {
        const info = await stat(path).catch(() => null);
        if (!info || Date.now() - info.mtimeMs < ORPHAN_AFTER_MS) continue;
      }
      // rename is atomic: of several processes claiming one orphan, exactly one succeeds.
      const target = join(this.dir, `${mine}.${randomBytes(6).toString("hex")}.jsonl`);
      if (
        await rename(path, target).then(
          () => true,
          () => false,
        )
      ) {
        await touch(target);
      }
    }
    return claimed;
  }
}

/** Runs steps one after another; a failed step does not stop the ones after it. */
class Lane {
  private tail: Promise<unknown> = Promise.resolve();

  run<T>(step: () => Promise<T>): Promise<T> {
    const run = this.tail.then(step, step);
    this.tail = run.catch(() => {});
    return run;
  }
}

function parseLines(text: string): SpoolLine[] {
  const lines: SpoolLine[] = [];
  for (const line of text.split("\n")) {
    if (!line.trim()) continue;
    try {
      lines.push(JSON.parse(line) as SpoolLine);
    } catch {
      // A line cut by a crash mid-write was never acknowledged as spooled; skip it.
    }
  }
  return lines;
}

/**
 * The spooled lines as records to append: lines already replayed (a crash between the insert
 * and the unlink) are skipped, and a call whose final record did commit after all (the database
 * answered after the caller's deadline) gets the refusal as an `event`, keeping one final per call.
 */
async function recordsToReplay(db: Database, lines: SpoolLine[]): Promise<AuditRecord[]> {
  if (lines.length === 0) return [];
  const times = lines.map((l) => new Date(l.at).getTime());
  const spoolIds = lines.map((l) => l.spoolId);
  const replayed = await db
    .select({ spoolId: sql<string>`${auditLog.details}->>'spoolId'` })
    .from(auditLog)
    .where(
      and(
        gte(auditLog.ts, new Date(Math.min(...times))),
        lte(auditLog.ts, new Date(Math.max(...times))),
        inArray(sql`${auditLog.details}->>'spoolId'`, spoolIds),
      ),
    );
  const done = new Set(replayed.map((r) => r.spoolId));
  const callIds = lines.map((l) => l.record.callId).filter((id): id is string => typeof id === "string");
  const finals =
    callIds.length === 0
      ? []
      : await db
          .select({ callId: auditLog.callId })
          .from(auditLog)
          .where(
            and(isNotNull(auditLog.callId), inArray(auditLog.callId, callIds), eq(auditLog.phase, "final")),
          );
  const hasFinal = new Set(finals.map((f) => f.callId));
  return lines
    .filter((l) => !done.has(l.spoolId))
    .map((l) => {
      const superseded = l.record.phase === "final" && l.record.callId && hasFinal.has(l.record.callId);
      return {
        ...l.record,
        phase: superseded ? "event" : l.record.phase,
        ts: new Date(l.at),
        details: { ...(l.record.details ?? {}), spoolId: l.spoolId, spooled: true },
      };
    });
}
