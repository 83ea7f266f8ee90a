// Verifies the audit log: every writer's hash chain (HMAC under the audit key, seq continuity,
// id order) and the latest signed checkpoints (Ed25519 public keys only), naming the first
// problem: an edited, deleted, inserted or reordered record, or a truncated tail.
import type { KeyObject } from "node:crypto";
import { and, asc, eq, gt, sql } from "drizzle-orm";
import { type AuditRow, auditLog, type Database } from "../../db/index.ts";
import type { VersionedSecret } from "../config.ts";
import { GENESIS_HASH, hashRecord } from "./chain.ts";
import { type CheckpointBody, readCheckpoints, type SignedCheckpoint } from "./checkpoint.ts";
import { publicKeyId, verifyBody } from "./signing.ts";

export type ProblemKind = "edited" | "deleted" | "inserted" | "reordered" | "truncated" | "bad_checkpoint";

export interface VerifyProblem {
  kind: ProblemKind;
  /** The record where the problem shows (for a truncated tail: the last record left). */
  recordId: number | null;
  writerId: string;
  seq: number | null;
  message: string;
}

export interface VerifyReport {
  ok: boolean;
  records: number;
  chains: number;
  checkpoints: number;
  /** Records newer than their chain's latest checkpoint: covered by the HMAC chain only. */
  uncheckpointed: number;
  problems: VerifyProblem[];
}

export interface VerifyKeys {
  auditKeys: readonly VersionedSecret[];
  publicKeys: readonly KeyObject[];
  /** The audit dir whose checkpoint files are read alongside the table. */
  dir: string | null;
}

const PAGE = 5000;

interface ChainCheckpoints {
  latest: CheckpointBody | null;
  /** head hash at seq, from every valid checkpoint. */
  bySeq: Map<number, string>;
  /** seq -> head hash of prune checkpoints: the chain may resume right after. */
  pruned: Map<number, string>;
}

export async function verifyAudit(db: Database, keys: VerifyKeys): Promise<VerifyReport> {
  // Checkpoints are read before the rows, so every checkpoint seen precedes the rows read.
  const { byWriter, valid, problems } = collectCheckpoints(
    await readCheckpoints(db, keys.dir),
    keys.publicKeys,
  );
  const chains = await db
    .select({
      writerId: auditLog.writerId,
      firstId: sql<number>`min(${auditLog.id})`.mapWith(Number),
    })
    .from(auditLog)
    .groupBy(auditLog.writerId)
    .orderBy(sql`min(${auditLog.id})`);
  let records = 0;
  let uncheckpointed = 0;
  const seen = new Set<string>();
  for (const chain of chains) {
    seen.add(chain.writerId);
    const checkpoints = byWriter.get(chain.writerId) ?? emptyCheckpoints();
    const result = await verifyChain(db, chain.writerId, checkpoints, keys.auditKeys);
    records += result.records;
    uncheckpointed += result.uncheckpointed;
    if (result.problem) problems.push(result.problem);
  }
  for (const [writerId, checkpoints] of byWriter) {
    const latest = checkpoints.latest;
    if (seen.has(writerId) || !latest || checkpoints.pruned.has(latest.seq)) continue;
    problems.push({
      kind: "truncated",
      recordId: null,
      writerId,
      seq: latest.seq,
      message: `chain ${writerId} is gone: a checkpoint signed at ${latest.ts} covers ${latest.seq} records`,
    });
  }
  problems.sort((a, b) => (a.recordId ?? Number.MAX_SAFE_INTEGER) - (b.recordId ?? Number.MAX_SAFE_INTEGER));
  return {
    ok: problems.length === 0,
    records,
    chains: chains.length,
    checkpoints: valid,
    uncheckpointed,
    problems,
  };
}

function emptyCheckpoints(): ChainCheckpoints {
  return { latest: null, bySeq: new Map(), pruned: new Map() };
}

function collectCheckpoints(signed: SignedCheckpoint[], publicKeys: readonly KeyObject[]) {
  const keysById = new Map(publicKeys.map((key) => [publicKeyId(key), key]));
  const byWriter = new Map<string, ChainCheckpoints>();
  const problems: VerifyProblem[] = [];
  let valid = 0;
  for (const checkpoint of signed) {
    const body = parseBody(checkpoint.body);
    const key = body ? keysById.get(body.keyId) : undefined;
    if (!body || !key || !verifyBody(key, checkpoint.body, checkpoint.signature)) {
      problems.push({
        kind: "bad_checkpoint",
        recordId: null,
        writerId: body?.writerId ?? "?",
        seq: body?.seq ?? null,
        message: key
          ? "a checkpoint's signature does not verify (forged or altered checkpoint)"
          : "a checkpoint is signed by a key not in the verification keys (SCOPEGATE_AUDIT_VERIFY_KEYS)",
      });
      continue;
    }
    valid += 1;
    const chain = byWriter.get(body.writerId) ?? emptyCheckpoints();
    byWriter.set(body.writerId, chain);
    chain.bySeq.set(body.seq, body.headHash);
    if (body.kind === "prune") chain.pruned.set(body.seq, body.headHash);
    if (!chain.latest || body.seq > chain.latest.seq) chain.latest = body;
  }
  return { byWriter, valid, problems };
}

function parseBody(text: string): CheckpointBody | null {
  try {
    const body = JSON.parse(text) as Partial<CheckpointBody>;
    if (
      body.v === 1 &&
      typeof body.writerId === "string" &&
      typeof body.seq === "number" &&
      typeof body.headHash === "string" &&
      typeof body.keyId === "string"
    ) {
      return body as CheckpointBody;
    }
  } catch {
    // falls through: unparseable
  }
  return null;
}

/** Reads one chain in seq order, a page at a time, with one record of lookahead. */
class ChainCursor {
  private page: AuditRow[] = [];
  private index = 0;
  private lastSeq = 0;
  private done = false;

  constructor(
    private readonly db: Database,
    private readonly writerId: string,
  ) {}

  async peek(): Promise<AuditRow | undefined> {
    if (this.index >= this.page.length && !this.done) {
      this.page = await this.db
        .select()
        .from(auditLog)
        .where(and(eq(auditLog.writerId, this.writerId), gt(auditLog.seq, this.lastSeq)))
        .orderBy(asc(auditLog.seq))
        .limit(PAGE);
      this.index = 0;
      this.done = this.page.length < PAGE;
      const last = this.page.at(-1);
      if (last) this.lastSeq = last.seq;
    }
    return this.page[this.index];
  }

  async next(): Promise<AuditRow | undefined> {
    const row = await this.peek();
    this.index += 1;
    return row;
  }
}

interface ChainResult {
  records: number;
  uncheckpointed: number;
  problem: VerifyProblem | null;
}

async function verifyChain(
  db: Database,
  writerId: string,
  checkpoints: ChainCheckpoints,
  auditKeys: readonly VersionedSecret[],
): Promise<ChainResult> {
  const cursor = new ChainCursor(db, writerId);
  const latestSeq = checkpoints.latest?.seq ?? 0;
  let records = 0;
  let prev: AuditRow | null = null;
  const problem = (kind: ProblemKind, row: AuditRow | null, message: string): ChainResult => ({
    records,
    uncheckpointed: 0,
    problem: { kind, recordId: row?.id ?? null, writerId, seq: row?.seq ?? null, message },
  });
  for (let row = await cursor.next(); row; row = await cursor.next()) {
    records += 1;
    let expectedPrev: string;
    if (prev === null) {
      const anchor = row.seq === 1 ? GENESIS_HASH : checkpoints.pruned.get(row.seq - 1);
      if (anchor === undefined) {
        return problem(
          "deleted",
          row,
          `records 1..${row.seq - 1} of chain ${writerId} are missing before record ${row.id}, and no signed prune checkpoint explains it`,
        );
      }
      expectedPrev = anchor;
    } else {
      if (row.seq !== prev.seq + 1) {
        return problem(
          "deleted",
          row,
          `record(s) ${prev.seq + 1}..${row.seq - 1} of chain ${writerId} are missing between records ${prev.id} and ${row.id}`,
        );
      }
      expectedPrev = prev.hash;
    }
    if (!hashMatches(auditKeys, row)) {
      const next = await cursor.peek();
      return problem(...(await classifyBadHash(db, auditKeys, row, next, checkpoints, latestSeq)));
    }
    if (prev && row.id < prev.id) {
      return problem(
        "reordered",
        row,
        `record ${row.id} (seq ${row.seq}) was moved before record ${prev.id}`,
      );
    }
    if (row.prevHash !== expectedPrev) {
      return problem(
        "inserted",
        row,
        `record ${row.id} does not follow the record before it in chain ${writerId}`,
      );
    }
    const signedHead = checkpoints.bySeq.get(row.seq);
    if (signedHead !== undefined && signedHead !== row.hash) {
      return problem("edited", row, `record ${row.id} differs from the signed checkpoint at seq ${row.seq}`);
    }
    prev = row;
  }
  const lastSeq = prev?.seq ?? 0;
  if (latestSeq > lastSeq && !(prev === null && checkpoints.pruned.has(latestSeq))) {
    return problem(
      "truncated",
      prev,
      `records ${lastSeq + 1}..${latestSeq} of chain ${writerId} are missing: the checkpoint signed at ${checkpoints.latest?.ts} covers them`,
    );
  }
  return { records, uncheckpointed: Math.max(0, lastSeq - latestSeq), problem: null };
}

/** Why a record's hash does not match its content: moved, edited in place, or not ours at all. */
async function classifyBadHash(
  db: Database,
  auditKeys: readonly VersionedSecret[],
  row: AuditRow,
  next: AuditRow | undefined,
  checkpoints: ChainCheckpoints,
  latestSeq: number,
): Promise<[ProblemKind, AuditRow, string]> {
  // A record moved to another position still verifies at its original one, which follows the
  // record whose hash it names as previous.
  const [before] = await db
    .select({ seq: auditLog.seq })
    .from(auditLog)
    .where(and(eq(auditLog.writerId, row.writerId), eq(auditLog.hash, row.prevHash)))
    .limit(1);
  const originalSeq = before ? before.seq + 1 : 1;
  if (originalSeq !== row.seq && hashMatches(auditKeys, { ...row, seq: originalSeq })) {
    return ["reordered", row, `record ${row.id} belongs at seq ${originalSeq} but sits at seq ${row.seq}`];
  }
  // Ids come from one sequence, so a row inserted later has a larger id than the record after it.
  const outOfOrder = next !== undefined && row.id > next.id;
  // The chain (its successor, or a signed checkpoint) vouches that a record with this hash was here.
  const vouched = next?.prevHash === row.hash || checkpoints.bySeq.get(row.seq) === row.hash;
  if (!outOfOrder && (vouched || next !== undefined || row.seq <= latestSeq)) {
    return ["edited", row, `record ${row.id} was changed after it was written (its hash no longer matches)`];
  }
  return ["inserted", row, `record ${row.id} was not written by scopegate (forged: its hash does not match)`];
}

function hashMatches(auditKeys: readonly VersionedSecret[], row: AuditRow): boolean {
  const version = Number(row.hash.split(":", 1)[0]);
  const key = auditKeys.find((k) => k.version === version);
  if (!key) return false;
  const { id: _id, hash, ...content } = row;
  return hashRecord(key, content) === hash;
}
