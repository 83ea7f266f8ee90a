// PGlite has no lock on its directory and a second process opening it silently loses writes.
// Whoever opens the embedded database holds `<data dir>/scopegate.lock` (pid, port and, for a
// server, a random local admin token; mode 0600). A lock whose pid is dead is stale and taken over.
import { mkdirSync, readFileSync, renameSync, unlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export interface LockInfo {
  pid: number;
  port: number | null;
  token: string | null;
}

export class DataDirLocked extends Error {
  constructor(
    readonly holder: LockInfo,
    message = `the data directory is in use by process ${holder.pid}`,
  ) {
    super(message);
  }
}

const lockPath = (dataDir: string) => join(dataDir, "scopegate.lock");

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** The live holder of the lock, if any (a stale lock counts as none). */
export function readLiveLock(dataDir: string): LockInfo | null {
  try {
    const info = JSON.parse(readFileSync(lockPath(dataDir), "utf8")) as LockInfo;
    return Number.isInteger(info.pid) && isAlive(info.pid) && info.pid !== process.pid ? info : null;
  } catch {
    return null;
  }
}

export interface HeldLock {
  /** Records the server's port and local admin token once it listens. */
  publish(port: number, token: string): void;
  release(): void;
}

export function acquireLock(dataDir: string): HeldLock {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const path = lockPath(dataDir);
  const mine: LockInfo = { pid: process.pid, port: null, token: null };
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      writeFileSync(path, JSON.stringify(mine), { mode: 0o600, flag: "wx" });
      return heldLock(path, mine);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
      const holder = readLiveLock(dataDir);
      if (holder) throw new DataDirLocked(holder);
      // Stale: its process is gone. Remove it and race for a fresh exclusive create.
      try {
        unlinkSync(path);
      } catch {}
    }
  }
  throw new Error(`could not take the lock ${path}`);
}

function heldLock(path: string, info: LockInfo): HeldLock {
  return {
    publish(port, token) {
      const temp = `${path}.${process.pid}.tmp`;
      writeFileSync(temp, JSON.stringify({ ...info, port, token }), { mode: 0o600 });
      renameSync(temp, path);
    },
    release() {
      try {
        const current = JSON.parse(readFileSync(path, "utf8")) as LockInfo;
        if (current.pid === info.pid) unlinkSync(path);
      } catch {}
    },
  };
}
