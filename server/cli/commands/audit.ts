// `scopegate audit …`: list with filters, verify (exit 1 at the first problem), stats, tail,
// export as JSON lines, prune (local operator), and the public key auditors verify with.
import { setTimeout as sleep } from "node:timers/promises";
import { publicKeyText } from "../../audit/signing.ts";
import { type CliIo, defineCommand, JSON_OPTION, printer, wholeNumber, withConnection } from "../command.ts";
import type { CliConnection } from "../connect.ts";
import { escapeControls, parseDuration, table, UsageError } from "../format.ts";

const OUTCOMES = ["ok", "denied", "rejected", "error"] as const;
type Outcome = (typeof OUTCOMES)[number];
const isOutcome = (value: string): value is Outcome => (OUTCOMES as readonly string[]).includes(value);
const PHASES = ["admitted", "final", "event"] as const;
type Phase = (typeof PHASES)[number];
const isPhase = (value: string): value is Phase => (PHASES as readonly string[]).includes(value);

const LIST_COLUMNS = [
  "id",
  "ts",
  "phase",
  "procedure",
  "keyId",
  "owner",
  "outcome",
  "reason",
  "clientAddress",
  "requestId",
  "callId",
];
const EXPORT_PAGE = 1000;
// Records of other processes can commit a little after later-numbered ones; tail re-reads this
// far back and drops what it already printed, so none is skipped.
const TAIL_LOOKBACK_MS = 10_000;

const WINDOW_OPTIONS = {
  since: { type: "string", arg: "1h", help: "a duration ago or an ISO timestamp" },
  until: { type: "string", arg: "T", help: "a duration ago or an ISO timestamp" },
} as const;

/** `1h` (ago) or an ISO timestamp. */
function pointInTime(flag: string, text: string | undefined): string | undefined {
  if (text === undefined) return undefined;
  if (/^\d{4}-\d{2}-\d{2}T/.test(text)) {
    const date = new Date(text);
    if (Number.isNaN(date.getTime())) throw new UsageError(`--${flag}: not a timestamp: ${text}`);
    return date.toISOString();
  }
  return new Date(Date.now() - parseDuration(text) * 1000).toISOString();
}

const list = defineCommand({
  name: "audit list",
  synopsis:
    "[--key ID] [--owner O] [--outcome O] [--procedure P] [--phase P] [--since 1h] [--until T] [--limit N] [--cursor ID] [--json]",
  summary: "List audit records, newest first, with filters.",
  options: {
    key: { type: "string", arg: "ID", help: "records of this key id" },
    owner: { type: "string", arg: "O", help: "records of this owner" },
    outcome: { type: "string", arg: "O", help: `one of ${OUTCOMES.join(", ")}` },
    procedure: { type: "string", arg: "P", help: "records of this procedure" },
    phase: { type: "string", arg: "P", help: `one of ${PHASES.join(", ")}` },
    ...WINDOW_OPTIONS,
    limit: { type: "string", arg: "N", help: "at most N records (default 50)" },
    cursor: { type: "string", arg: "ID", help: "continue after a previous page" },
    ...JSON_OPTION,
  },
  async run({ values }, io) {
    const { outcome, phase } = values;
    if (outcome !== undefined && !isOutcome(outcome)) {
      throw new UsageError(`--outcome is one of ${OUTCOMES.join(", ")}`);
    }
    if (phase !== undefined && !isPhase(phase))
      throw new UsageError(`--phase is one of ${PHASES.join(", ")}`);
    const filters = {
      keyId: values.key,
      owner: values.owner,
      outcome,
      procedure: values.procedure,
      phase,
      since: pointInTime("since", values.since),
      until: pointInTime("until", values.until),
      limit: wholeNumber("limit", values.limit) ?? 50,
      cursor: wholeNumber("cursor", values.cursor),
    };
    return withConnection(io, async ({ api }) => {
      const page = await api.audit.list.query(filters);
      printer(io, values.json)(page.items, () => {
        const more = page.nextCursor === null ? "" : `\nmore: --cursor ${page.nextCursor}`;
        return `${table(page.items, LIST_COLUMNS)}${more}`;
      });
      return 0;
    });
  },
});

const verify = defineCommand({
  name: "audit verify",
  synopsis: "[--json]",
  summary: "Check the hash chains and signed checkpoints; exit 1 at the first problem.",
  options: { ...JSON_OPTION },
  run: ({ values }, io) =>
    withConnection(io, async ({ api }) => {
      const report = await api.audit.verify.query({});
      const first = report.problems[0];
      printer(io, values.json)(report, () =>
        first
          ? `audit log NOT intact: ${first.kind} at record ${first.recordId ?? "-"} (chain ${first.writerId}, seq ${first.seq ?? "-"})\n${escapeControls(first.message)}` +
            (report.problems.length > 1
              ? `\n(${report.problems.length - 1} more chain(s) with problems)`
              : "")
          : `audit log intact: ${report.records} records in ${report.chains} chain(s), ${report.checkpoints} signed checkpoint(s); ${report.uncheckpointed} record(s) newer than the latest checkpoints`,
      );
      if (first && !values.json) io.out(`first problem at record ${first.recordId ?? "-"}`);
      return first ? 1 : 0;
    }),
});

const stats = defineCommand({
  name: "audit stats",
  synopsis: "[--since 1h] [--json]",
  summary: "Counts by outcome and reason; the keys and addresses most often denied.",
  options: {
    since: { type: "string", arg: "1h", help: "a duration ago or an ISO timestamp (default 1h)" },
    ...JSON_OPTION,
  },
  async run({ values }, io) {
    const since = pointInTime("since", values.since ?? "1h") ?? "";
    return withConnection(io, async ({ api }) => {
      const result = await api.audit.stats.query({ since });
      printer(io, values.json)(result, () =>
        [
          `since ${result.since}`,
          "",
          table(result.byOutcome, ["outcome", "count"]),
          "",
          table(result.byReason, ["outcome", "reason", "count"]),
          "",
          "top keys by denied attempts",
          table(result.topDeniedKeys, ["key", "count"]),
          "",
          "top addresses by denied attempts",
          table(result.topDeniedAddresses, ["address", "count"]),
        ].join("\n"),
      );
      return 0;
    });
  },
});

const exportRecords = defineCommand({
  name: "audit export",
  synopsis: "[--since 1h] [--until T] [--format jsonl]",
  summary: "Every record in the window as JSON lines, oldest first.",
  options: {
    ...WINDOW_OPTIONS,
    format: { type: "string", arg: "jsonl", help: "only jsonl" },
  },
  async run({ values }, io) {
    if ((values.format ?? "jsonl") !== "jsonl") throw new UsageError("--format: only jsonl is supported");
    const since = pointInTime("since", values.since);
    const until = pointInTime("until", values.until);
    return withConnection(io, async ({ api }) => {
      let afterId: number | undefined;
      for (;;) {
        const page = await api.audit.export.query({ since, until, afterId, limit: EXPORT_PAGE });
        for (const item of page.items) io.out(JSON.stringify(item));
        if (page.items.length < EXPORT_PAGE || page.lastId === null) return 0;
        afterId = page.lastId;
      }
    });
  },
});

const tailCommand = defineCommand({
  name: "audit tail",
  synopsis: "[--since 0s] [--interval 1s] [--limit N] [--json]",
  summary: "Follow new records until interrupted (or until N were printed).",
  options: {
    since: { type: "string", arg: "0s", help: "start this long ago (default now)" },
    interval: { type: "string", arg: "1s", help: "how often to poll" },
    limit: { type: "string", arg: "N", help: "stop after N records" },
    ...JSON_OPTION,
  },
  async run({ values }, io) {
    const options = {
      since: pointInTime("since", values.since ?? "0s") ?? new Date().toISOString(),
      intervalMs: (values.interval ? parseDuration(values.interval) : 1) * 1000,
      limit: wholeNumber("limit", values.limit),
      json: values.json ?? false,
    };
    return withConnection(io, ({ api }) => tail(io, api, options));
  },
});

const prune = defineCommand({
  name: "audit prune",
  synopsis: "--older-than 90d [--json]",
  summary: "Delete records older than the cutoff; a signed checkpoint anchors what remains.",
  options: {
    "older-than": { type: "string", arg: "90d", help: "the cutoff age" },
    ...JSON_OPTION,
  },
  async run({ values }, io) {
    const olderThan = values["older-than"];
    if (olderThan === undefined) throw new UsageError("audit prune needs --older-than");
    const olderThanSeconds = parseDuration(olderThan);
    return withConnection(io, async ({ api }) => {
      const result = await api.audit.prune.mutate({ olderThanSeconds });
      printer(io, values.json)(
        result,
        () =>
          `pruned ${result.deleted} record(s) older than ${result.cutoff}; a signed checkpoint anchors what remains`,
      );
      return 0;
    });
  },
});

const publicKey = defineCommand({
  name: "audit public-key",
  synopsis: "",
  summary: "Print the checkpoint verification key (for SCOPEGATE_AUDIT_VERIFY_KEYS).",
  options: {},
  async run(_parsed, io) {
    // Needs no connection: auditors copy this into SCOPEGATE_AUDIT_VERIFY_KEYS.
    const key = io.config.audit.verifyKeys[0];
    if (!key) throw new UsageError("no audit signing key configured");
    io.out(publicKeyText(key));
    return 0;
  },
});

export const auditCommands = [list, verify, stats, exportRecords, tailCommand, prune, publicKey];

type Api = CliConnection["api"];

/** Follows new records (oldest first) until interrupted, or until `limit` were printed. */
async function tail(
  io: CliIo,
  api: Api,
  options: { since: string; intervalMs: number; limit: number | undefined; json: boolean },
): Promise<number> {
  const printed = new Map<number, number>();
  let watermark = new Date(options.since).getTime();
  let count = 0;
  for (;;) {
    let afterId: number | undefined;
    const from = new Date(watermark - TAIL_LOOKBACK_MS).toISOString();
    for (;;) {
      const page = await api.audit.export.query({
        since: from,
        afterId,
        limit: EXPORT_PAGE,
        excludeOwnExports: true,
      });
      for (const item of page.items) {
        if (printed.has(item.id)) continue;
        const ts = new Date(item.ts).getTime();
        printed.set(item.id, ts);
        if (ts < new Date(options.since).getTime()) continue;
        watermark = Math.max(watermark, ts);
        io.out(options.json ? JSON.stringify(item) : (table([item], LIST_COLUMNS).split("\n")[1] ?? ""));
        count += 1;
        if (options.limit !== undefined && count >= options.limit) return 0;
      }
      if (page.items.length < EXPORT_PAGE || page.lastId === null) break;
      afterId = page.lastId;
    }
    for (const [id, ts] of printed) if (ts < watermark - TAIL_LOOKBACK_MS) printed.delete(id);
    await sleep(options.intervalMs);
  }
}
