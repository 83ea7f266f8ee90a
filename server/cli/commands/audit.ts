// `scopegate audit …`: list with filters, verify (exit 1 at the first problem), stats, tail,
// export as JSON lines, prune (local operator), and the public key auditors verify with.
import { setTimeout as sleep } from "node:timers/promises";
import { parseArgs } from "node:util";
import { publicKeyText } from "../../audit/signing.ts";
import { type CliIo, type CommandGroup, printer, wholeNumber, withConnection } from "../command.ts";
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

export const auditCommand: CommandGroup = async (sub, args, io) => {
  const { values } = parseArgs({
    args,
    options: {
      json: { type: "boolean", default: false },
      key: { type: "string" },
      owner: { type: "string" },
      outcome: { type: "string" },
      procedure: { type: "string" },
      phase: { type: "string" },
      since: { type: "string" },
      until: { type: "string" },
      limit: { type: "string" },
      cursor: { type: "string" },
      format: { type: "string" },
      interval: { type: "string" },
      "older-than": { type: "string" },
    },
  });
  const print = printer(io, values.json);
  if (values.outcome !== undefined && !isOutcome(values.outcome)) {
    throw new UsageError(`--outcome is one of ${OUTCOMES.join(", ")}`);
  }
  if (values.phase !== undefined && !isPhase(values.phase)) {
    throw new UsageError(`--phase is one of ${PHASES.join(", ")}`);
  }
  const outcome = values.outcome;
  const phase = values.phase;
  if (sub === "public-key") {
    // Needs no connection: auditors copy this into SCOPEGATE_AUDIT_VERIFY_KEYS.
    const key = io.config.audit.verifyKeys[0];
    if (!key) throw new UsageError("no audit signing key configured");
    io.out(publicKeyText(key));
    return 0;
  }
  if (sub === "export" && (values.format ?? "jsonl") !== "jsonl") {
    throw new UsageError("--format: only jsonl is supported");
  }
  if (sub === "prune" && values["older-than"] === undefined) {
    throw new UsageError("usage: scopegate audit prune --older-than 90d");
  }
  return withConnection(io, async ({ api }) => {
    switch (sub) {
      case "list": {
        const page = await api.audit.list.query({
          keyId: values.key,
          owner: values.owner,
          outcome,
          procedure: values.procedure,
          phase,
          since: pointInTime("since", values.since),
          until: pointInTime("until", values.until),
          limit: wholeNumber("limit", values.limit) ?? 50,
          cursor: wholeNumber("cursor", values.cursor),
        });
        print(page.items, () => {
          const more = page.nextCursor === null ? "" : `\nmore: --cursor ${page.nextCursor}`;
          return `${table(page.items, LIST_COLUMNS)}${more}`;
        });
        return 0;
      }
      case "verify": {
        const report = await api.audit.verify.query({});
        const first = report.problems[0];
        print(report, () =>
          first
            ? `audit log NOT intact: ${first.kind} at record ${first.recordId ?? "-"} (chain ${first.writerId}, seq ${first.seq ?? "-"})\n${escapeControls(first.message)}` +
              (report.problems.length > 1
                ? `\n(${report.problems.length - 1} more chain(s) with problems)`
                : "")
            : `audit log intact: ${report.records} records in ${report.chains} chain(s), ${report.checkpoints} signed checkpoint(s); ${report.uncheckpointed} record(s) newer than the latest checkpoints`,
        );
        if (first && !values.json) io.out(`first problem at record ${first.recordId ?? "-"}`);
        return first ? 1 : 0;
      }
      case "stats": {
        const stats = await api.audit.stats.query({
          since: pointInTime("since", values.since ?? "1h") ?? "",
        });
        print(stats, () =>
          [
            `since ${stats.since}`,
            "",
            table(stats.byOutcome, ["outcome", "count"]),
            "",
            table(stats.byReason, ["outcome", "reason", "count"]),
            "",
            "top keys by denied attempts",
            table(stats.topDeniedKeys, ["key", "count"]),
            "",
            "top addresses by denied attempts",
            table(stats.topDeniedAddresses, ["address", "count"]),
          ].join("\n"),
        );
        return 0;
      }
      case "export": {
        const since = pointInTime("since", values.since);
        const until = pointInTime("until", values.until);
        let afterId: number | undefined;
        for (;;) {
          const page = await api.audit.export.query({ since, until, afterId, limit: EXPORT_PAGE });
          for (const item of page.items) io.out(JSON.stringify(item));
          if (page.items.length < EXPORT_PAGE || page.lastId === null) return 0;
          afterId = page.lastId;
        }
      }
      case "tail":
        return tail(io, api, {
          since: pointInTime("since", values.since ?? "0s") ?? new Date().toISOString(),
          intervalMs: (values.interval ? parseDuration(values.interval) : 1) * 1000,
          limit: wholeNumber("limit", values.limit),
          json: values.json,
        });
      case "prune": {
        const result = await api.audit.prune.mutate({
          olderThanSeconds: parseDuration(values["older-than"] ?? ""),
        });
        print(
          result,
          () =>
            `pruned ${result.deleted} record(s) older than ${result.cutoff}; a signed checkpoint anchors what remains`,
        );
        return 0;
      }
      default:
        throw new UsageError(`unknown command: audit ${sub ?? ""}`);
    }
  });
};

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
