// `scopegate docs …`: add a document from a file, list documents, remove one.
import { readFileSync } from "node:fs";
import { defineCommand, JSON_OPTION, printer, withConnection } from "../command.ts";
import { escapeControls, table, UsageError } from "../format.ts";

const add = defineCommand({
  name: "docs add",
  synopsis: "--source S --title T FILE [--json]",
  summary: "Add a document (the file's text) to a data source.",
  options: {
    source: { type: "string", arg: "S", help: "the data source (keys read it with db:<source>)" },
    title: { type: "string", arg: "T", help: "the document's title" },
    ...JSON_OPTION,
  },
  positionals: ["FILE"],
  async run({ values, positionals: [file = ""] }, io) {
    const { source, title } = values;
    if (!source || !title) throw new UsageError("docs add needs --source and --title");
    return withConnection(io, async ({ api }) => {
      // Read once connected: a server, or the lock, is held while the file arrives.
      const body = readFileSync(file, "utf8");
      const doc = await api.documents.add.mutate({ source, title, body });
      printer(io, values.json)(
        doc,
        () => `added ${doc.id} to ${escapeControls(doc.source)}: ${escapeControls(doc.title)}`,
      );
      return 0;
    });
  },
});

const list = defineCommand({
  name: "docs list",
  synopsis: "[--source S] [--json]",
  summary: "List documents (id, source, title), optionally of one source.",
  options: {
    source: { type: "string", arg: "S", help: "only this data source" },
    ...JSON_OPTION,
  },
  run: ({ values }, io) =>
    withConnection(io, async ({ api }) => {
      const docs = await api.documents.list.query({ source: values.source });
      printer(io, values.json)(docs, () => table(docs, ["id", "source", "title", "createdAt"]));
      return 0;
    }),
});

const remove = defineCommand({
  name: "docs remove",
  synopsis: "--source S ID [--json]",
  summary: "Remove a document, addressed by its source and id.",
  options: {
    source: { type: "string", arg: "S", help: "the document's data source" },
    ...JSON_OPTION,
  },
  positionals: ["ID"],
  async run({ values, positionals: [id = ""] }, io) {
    const { source } = values;
    if (!source) throw new UsageError("docs remove needs --source");
    return withConnection(io, async ({ api }) => {
      const removed = await api.documents.remove.mutate({ source, id });
      printer(io, values.json)(removed, () => `removed ${escapeControls(id)} from ${escapeControls(source)}`);
      return 0;
    });
  },
});

export const docsCommands = [add, list, remove];
