// `scopegate docs …`: add a document from a file, list documents.
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { type CommandGroup, printer, requirePositional, withConnection } from "../command.ts";
import { escapeControls, table, UsageError } from "../format.ts";

export const docsCommand: CommandGroup = async (sub, args, io) => {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      json: { type: "boolean", default: false },
      source: { type: "string" },
      title: { type: "string" },
    },
  });
  const print = printer(io, values.json);
  return withConnection(io, async ({ api }) => {
    switch (sub) {
      case "add": {
        const file = requirePositional(positionals, "docs add --source S --title T FILE");
        if (!values.source || !values.title) throw new UsageError("docs add needs --source and --title");
        const body = readFileSync(file, "utf8");
        const doc = await api.documents.add.mutate({ source: values.source, title: values.title, body });
        print(doc, () => `added ${doc.id} to ${escapeControls(doc.source)}: ${escapeControls(doc.title)}`);
        return 0;
      }
      case "list": {
        const docs = await api.documents.list.query({ source: values.source });
        print(docs, () => table(docs, ["id", "source", "title", "createdAt"]));
        return 0;
      }
      default:
        throw new UsageError(`unknown command: docs ${sub ?? ""}`);
    }
  });
};
