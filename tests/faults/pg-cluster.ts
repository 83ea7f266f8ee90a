// A throwaway PostgreSQL cluster for fault drills: initdb into a temp dir on a spare port, then
// start and stop it at will. Never the shared cluster. Needs root (it runs the server binaries
// as the `postgres` user, as CI does) and the Debian postgresql packages.
import { execFileSync } from "node:child_process";
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

const PG_ROOT = "/usr/lib/postgresql";

/** The newest installed server's bin dir, or null. */
function binDir(): string | null {
  if (!existsSync(PG_ROOT)) return null;
  const versions = readdirSync(PG_ROOT)
    .filter((v) => existsSync(join(PG_ROOT, v, "bin", "initdb")))
    .sort((a, b) => Number(b) - Number(a));
  return versions[0] ? join(PG_ROOT, versions[0], "bin") : null;
}

/** Why a throwaway cluster cannot be made here, or null when it can. */
export function clusterUnavailableReason(): string | null {
  if (!binDir()) return `no PostgreSQL server binaries under ${PG_ROOT}`;
  if (process.getuid?.() !== 0) return "creating a throwaway cluster needs root (runuser -u postgres)";
  try {
    execFileSync("id", ["-u", "postgres"], { stdio: "ignore" });
  } catch {
    return "no `postgres` system user";
  }
  return null;
}

async function sparePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

export interface PgCluster {
  url: string;
  start(): void;
  /** `fast` (clean, connections terminated) or `immediate` (like a crash). */
  stop(mode?: "fast" | "immediate"): void;
  destroy(): void;
}

export async function createPgCluster(): Promise<PgCluster> {
  const bin = binDir();
  if (!bin) throw new Error(clusterUnavailableReason() ?? "no PostgreSQL");
  const root = mkdtempSync(join(tmpdir(), "sg-pg-fault-"));
  const uid = Number(execFileSync("id", ["-u", "postgres"]).toString().trim());
  const gid = Number(execFileSync("id", ["-g", "postgres"]).toString().trim());
  chownSync(root, uid, gid);
  const data = join(root, "data");
  const asPostgres = (command: string, args: string[]) =>
    execFileSync("runuser", ["-u", "postgres", "--", join(bin, command), ...args], {
      stdio: ["ignore", "pipe", "pipe"],
      timeout: 60_000,
    });
  asPostgres("initdb", ["-D", data, "-A", "trust", "-U", "postgres", "--no-sync"]);
  const port = await sparePort();
  const options = `-p ${port} -k ${root} -c listen_addresses=127.0.0.1 -c fsync=off`;
  const cluster: PgCluster = {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    start: () => {
      asPostgres("pg_ctl", ["-D", data, "-o", options, "-l", join(root, "log"), "-w", "-t", "30", "start"]);
    },
    stop: (mode = "fast") => {
      asPostgres("pg_ctl", ["-D", data, "-m", mode, "-w", "-t", "30", "stop"]);
    },
    destroy: () => {
      try {
        cluster.stop("immediate");
      } catch {
        // Already stopped.
      }
      rmSync(root, { recursive: true, force: true });
    },
  };
  cluster.start();
  return cluster;
}
