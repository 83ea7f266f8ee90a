// Signed checkpoints of the audit hash chains: (writer, seq, head hash) signed with the Ed25519
// key, written to an append-only, fsync'd file in the data dir (named by writer id), to the log,
// and to the audit_checkpoints table. A checkpoint is what lets verify see a deleted tail.
import { mkdir, open, readdir, readFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { auditCheckpoints, type Database } from "../../db/index.ts";
import type { Logger } from "../logger.ts";
import { publicKeyId, type SigningKey, signBody } from "./signing.ts";

export type CheckpointKind = "periodic" | "final" | "prune";

/** What is signed. For `prune`, records up to `seq` were deleted and the chain resumes from `headHash`. */
export interface CheckpointBody {
  v: 1;
  kind: CheckpointKind;
  writerId: string;
  seq: number;
  headHash: string;
  ts: string;
  keyId: string;
}

export interface SignedCheckpoint {
  body: string;
  signature: string;
}

const FILE_PREFIX = "checkpoints-";

export function checkpointFileName(writerId: string): string {
  return `${FILE_PREFIX}${writerId}.jsonl`;
}

/** Appends a line and waits until it is on disk: a checkpoint or spooled record that is not fsync'd does not exist. */
export async function appendDurably(path: string, line: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const file = await open(path, "a", 0o600);
  try {
    await file.write(`${line}\n`);
    await file.datasync();
  } finally {
    await file.close();
  }
}

export class CheckpointSink {
  constructor(
    private readonly db: Database,
    private readonly signingKey: SigningKey,
    private readonly dir: string | null,
    private readonly logger: Logger,
  ) {}

  /** Signs and writes one checkpoint to every sink; the file and log first, the database best-effort. */
  async write(
    kind: CheckpointKind,
    writerId: string,
    seq: number,
    headHash: string,
    now: Date,
  ): Promise<SignedCheckpoint> {
    const body: CheckpointBody = {
      v: 1,
      kind,
      writerId,
      seq,
      headHash,
      ts: now.toISOString(),
      keyId: publicKeyId(this.signingKey.publicKey),
    };
    const text = JSON.stringify(body);
    const signed = { body: text, signature: signBody(this.signingKey, text) };
    if (this.dir) await appendDurably(join(this.dir, checkpointFileName(writerId)), JSON.stringify(signed));
    this.logger.info("audit checkpoint", { checkpoint: body, signature: signed.signature });
    try {
      await this.db.insert(auditCheckpoints).values({ writerId, seq, kind, ...signed });
    } catch (error) {
      // The file and log copies stand; the next checkpoint reaches the table once it is back.
      this.logger.warn("audit checkpoint not stored in the database", { writerId, seq, error });
    }
    return signed;
  }
}

/** Every checkpoint the verifier can find: the table, and the files in the audit dir. */
export async function readCheckpoints(db: Database, dir: string | null): Promise<SignedCheckpoint[]> {
  const fromTable = await db
    .select({ body: auditCheckpoints.body, signature: auditCheckpoints.signature })
    .from(auditCheckpoints);
  return [...fromTable, ...(await readCheckpointFiles(dir))];
}

export async function readCheckpointFiles(dir: string | null): Promise<SignedCheckpoint[]> {
  if (!dir) return [];
  let names: string[];
  try {
    names = (await readdir(dir)).filter((n) => n.startsWith(FILE_PREFIX) && n.endsWith(".jsonl"));
  } catch {
    return [];
  }
  const found: SignedCheckpoint[] = [];
  for (const name of names) {
    for (const line of (await readFile(join(dir, name), "utf8")).split("\n")) {
      const parsed = parseSigned(line);
      if (parsed) found.push(parsed);
    }
  }
  return found;
}

function parseSigned(line: string): SignedCheckpoint | null {
  if (!line.trim()) return null;
  try {
    const value = JSON.parse(line) as Partial<SignedCheckpoint>;
    return typeof value.body === "string" && typeof value.signature === "string"
      ? { body: value.body, signature: value.signature }
      : null;
  } catch {
    // A line cut by a crash mid-write; the checkpoints before it stand.
    return null;
  }
}
