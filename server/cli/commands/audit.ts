// `scopegate audit …`: list records with filters.
import { parseArgs } from "node:util";
import { type CommandGroup, printer, wholeNumber, withConnection } from "../command.ts";
import { parseDuration, table, UsageError } from "../format.ts";

const OUTCOMES = ["ok", "denied", "rejected", "error"] as const;
type Outcome = (typeof OUTCOMES)[number];
const isOutcome = (value: string): value is Outcome => (OUTCOMES as readonly string[]).includes(value);

export const auditCommand: CommandGroup = async (sub, args, io) => {
  const { values } = parseArgs({
    args,
    options: {
      json: { type: "boolean", default: false },
      key: { type: "string" },
      outcome: { type: "string" },
      procedure: { type: "string" },
      since: { type: "string" },
      limit: { type: "string" },
    },
  });
  const print = printer(io, values.json);
  if (values.outcome !== undefined && !isOutcome(values.outcome)) {
    throw new UsageError(`--outcome is one of ${OUTCOMES.join(", ")}`);
  }
  const outcome = values.outcome;
  return withConnection(io, async ({ api }) => {
    switch (sub) {
      case "list": {
        const since = values.since
          ? new Date(Date.now() - parseDuration(values.since) * 1000).toISOString()
          : undefined;
        const page = await api.audit.list.query({
          keyId: values.key,
          outcome,
          procedure: values.procedure,
          since,
          limit: wholeNumber("limit", values.limit) ?? 50,
        });
        print(page.items, () =>
          table(page.items, [
            "id",
            "ts",
            "phase",
            "procedure",
            "keyId",
            "outcome",
            "reason",
            "clientAddress",
            "requestId",
            "callId",
          ]),
        );
        return 0;
      }
      default:
        throw new UsageError(`unknown command: audit ${sub ?? ""}`);
    }
  });
};
