// Runs the real `scopegate serve` as a child process (several can share one Postgres), for
// tests of what holds across processes: limits, revocation, crashes, shutdown.
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { fileURLToPath } from "node:url";

const BIN = fileURLToPath(new URL("../../bin/scopegate.mjs", import.meta.url));

/** Secrets every process sharing one database must agree on (base64 of 32 random bytes). */
export function sharedSecrets(): Record<string, string> {
  const secret = () => randomBytes(32).toString("base64");
  return {
    SCOPEGATE_PEPPER: secret(),
    SCOPEGATE_AUDIT_KEY: secret(),
    // An Ed25519 seed for audit checkpoints.
    SCOPEGATE_AUDIT_SIGNING_KEY: secret(),
    SCOPEGATE_MODEL_PROVIDER: "offline",
  };
}

export interface ServeProcess {
  url: string;
  child: ChildProcess;
  output(): string;
  /** SIGTERM and wait for exit; returns the exit code. */
  stop(): Promise<number | null>;
}

export async function startServeProcess(env: Record<string, string>): Promise<ServeProcess> {
  const child = spawn(process.execPath, [BIN, "serve", "--port", "0"], {
    env: { ...process.env, LOG_LEVEL: "warn", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout?.on("data", (chunk: Buffer) => {
    output += chunk.toString();
  });
  child.stderr?.on("data", (chunk: Buffer) => {
    output += chunk.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`serve did not start:\n${output}`)), 30_000);
    const check = () => {
      const match = /listening on (http:\/\/localhost:\d+)/.exec(output);
      if (match?.[1]) {
        clearTimeout(timer);
        resolve(match[1].replace("localhost", "127.0.0.1"));
      }
    };
    child.stdout?.on("data", check);
    void exited.then(() => {
      clearTimeout(timer);
      reject(new Error(`serve exited early:\n${output}`));
    });
  });
  return {
    url,
    child,
    output: () => output,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
      return exited;
    },
  };
}
