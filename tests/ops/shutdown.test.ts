// Graceful shutdown of a real `scopegate serve`: SIGTERM while 50 calls and a few streams are in
// flight lets them all finish (each with its final record), exits 0, and the audit verifies;
// past the drain timeout, calls still running end with a `shutdown` final record instead.
import { afterEach, describe, expect, it } from "vitest";
import { createClient } from "../../client/index.ts";
import {
  type Env,
  embeddedEnv,
  removeDir,
  runCli,
  runJson,
  startServe,
  stopAllChildren,
  tempDataDir,
} from "../cli/cli-helpers.ts";
import { FakeOpenAI, hang, type Reply, stream, text } from "../model/fake-openai.ts";

const dirs: string[] = [];
let fake: FakeOpenAI | null = null;
afterEach(async () => {
  await stopAllChildren();
  await fake?.stop();
  fake = null;
  for (const dir of dirs.splice(0)) removeDir(dir);
});

const slow =
  (reply: Reply, ms: number): Reply =>
  async (body, res) => {
    await new Promise((resolve) => setTimeout(resolve, ms));
    await reply(body, res);
  };

async function setup(extra: Env) {
  const dataDir = tempDataDir();
  dirs.push(dataDir);
  fake = await new FakeOpenAI().start();
  const env = {
    ...embeddedEnv(dataDir),
    SCOPEGATE_MODEL_PROVIDER: "openai",
    OPENAI_API_KEY: "sk-test-not-a-real-key",
    OPENAI_BASE_URL: fake.url,
    SCOPEGATE_MODEL: "fake-model",
    ...extra,
  };
  const key = await runJson<{ key: string; keyId: string }>(
    [
      "keys",
      "create",
      "--name",
      "drain",
      "--scope",
      "endpoint:summarize-doc",
      "--scope",
      "endpoint:chat",
      "--scope",
      "prompt-processing",
    ],
    env,
  );
  const server = await startServe(env);
  const exitCode = new Promise<number | null>((resolve) =>
    server.child.once("exit", (code) => resolve(code)),
  );
  return { env, key: key.key, server, exitCode };
}

interface Outcome {
  status: number;
  requestId: string | null;
}

async function summarize(url: string, key: string): Promise<Outcome> {
  const response = await fetch(`${url}/trpc/summarizeDoc`, {
    method: "POST",
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
    body: JSON.stringify({ text: "Drain me gently. Every call finishes before the process exits." }),
  });
  await response.text();
  return { status: response.status, requestId: response.headers.get("x-request-id") };
}

interface FinalRecord {
  phase: string;
  requestId: string;
  procedure: string;
  outcome: string;
  reason: string | null;
}

async function finalRecords(env: Env): Promise<FinalRecord[]> {
  const result = await runCli(["audit", "export", "--since", "1h", "--format", "jsonl"], env);
  expect(result.code).toBe(0);
  return result.stdout
    .split("\n")
    .filter(Boolean)
    .map((line) => JSON.parse(line) as FinalRecord)
    .filter((record) => record.phase === "final");
}

const finalOf = (finals: FinalRecord[], requestId: string | null) =>
  finals.find((f) => f.requestId === requestId);

async function waitFor(condition: () => boolean, ms = 20_000): Promise<void> {
  const start = Date.now();
  while (!condition()) {
    if (Date.now() - start > ms) throw new Error("timed out waiting");
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

// Each test spawns the CLI and a server several times; on a loaded 2-core machine that takes a while.
describe("SIGTERM", { timeout: 120_000 }, () => {
  it("lets 50 calls and 3 streams in flight finish, exits 0, and the audit verifies", async () => {
    const { env, key, server, exitCode } = await setup({});
    fake?.script(
      ...Array.from({ length: 50 }, () => slow(text("A calm summary."), 1_500)),
      ...Array.from({ length: 3 }, () => slow(stream(["Streams ", "finish ", "too."]), 1_500)),
    );
    const calls = Array.from({ length: 50 }, () => summarize(server.url, key));
    const client = createClient({ url: server.url, apiKey: key });
    const streams = Array.from({ length: 3 }, async () => {
      const events = [];
      for await (const event of await client.chatStream.mutate({
        messages: [{ role: "user", content: "Keep going." }],
      })) {
        events.push(event);
      }
      return events;
    });
    await waitFor(() => (fake?.requests.length ?? 0) >= 53);
    server.child.kill("SIGTERM");

    const outcomes = await Promise.all(calls);
    expect(outcomes.map((o) => o.status)).toEqual(Array(50).fill(200));
    for (const events of await Promise.all(streams)) expect(events.at(-1)).toMatchObject({ type: "done" });
    expect(await exitCode).toBe(0);

    const finals = await finalRecords(env);
    for (const outcome of outcomes) expect(finalOf(finals, outcome.requestId)?.outcome).toBe("ok");
    expect(finals.filter((f) => f.procedure === "summarizeDoc" && f.outcome === "ok")).toHaveLength(50);
    expect(finals.filter((f) => f.procedure === "chatStream" && f.outcome === "ok")).toHaveLength(3);
    const verify = await runCli(["audit", "verify"], env);
    expect(verify.code, verify.stdout + verify.stderr).toBe(0);
  });

  it("ends calls still running at the drain timeout with a shutdown final record", async () => {
    const { env, key, server, exitCode } = await setup({ SCOPEGATE_DRAIN_TIMEOUT_MS: "500" });
    fake?.script(...Array.from({ length: 5 }, () => hang()));
    const calls = Array.from({ length: 5 }, () => summarize(server.url, key));
    await waitFor(() => (fake?.requests.length ?? 0) >= 5);
    const started = Date.now();
    server.child.kill("SIGTERM");
    const outcomes = await Promise.all(calls);
    expect(outcomes.map((o) => o.status)).toEqual(Array(5).fill(503));
    expect(await exitCode).toBe(0);
    expect(Date.now() - started).toBeLessThan(10_000);
    const finals = await finalRecords(env);
    for (const outcome of outcomes) {
      expect(finalOf(finals, outcome.requestId)).toMatchObject({ outcome: "error", reason: "shutdown" });
    }
    expect((await runCli(["audit", "verify"], env)).code).toBe(0);
  });
});
