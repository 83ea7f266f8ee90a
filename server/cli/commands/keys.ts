// `scopegate keys …`: create, list, show, revoke.
import { parseArgs } from "node:util";
import { type CommandGroup, printer, requirePositional, wholeNumber, withConnection } from "../command.ts";
import { escapeControls, parseDuration, table, UsageError } from "../format.ts";

export const keysCommand: CommandGroup = async (sub, args, io) => {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      json: { type: "boolean", default: false },
      name: { type: "string" },
      scope: { type: "string", multiple: true },
      owner: { type: "string" },
      ttl: { type: "string" },
      "max-uses": { type: "string" },
      rpm: { type: "string" },
      "daily-tokens": { type: "string" },
      env: { type: "string" },
    },
  });
  const print = printer(io, values.json);
  return withConnection(io, async ({ api }) => {
    switch (sub) {
      case "create": {
        if (!values.name || !values.scope?.length)
          throw new UsageError("keys create needs --name and at least one --scope");
        if (values.env !== undefined && values.env !== "live" && values.env !== "test") {
          throw new UsageError("--env is live or test");
        }
        const created = await api.keys.create.mutate({
          name: values.name,
          scopes: values.scope,
          owner: values.owner,
          ttlSeconds: values.ttl ? parseDuration(values.ttl) : undefined,
          maxUses: wholeNumber("max-uses", values["max-uses"]),
          rpm: wholeNumber("rpm", values.rpm),
          dailyTokens: wholeNumber("daily-tokens", values["daily-tokens"]),
          env: values.env,
        });
        print(created, () =>
          [
            `key id:  ${created.keyId}`,
            `scopes:  ${created.scopes.join(" ")}`,
            `expires: ${created.expiresAt ?? "never"}`,
            "",
            created.key,
            "",
            "This key is shown once. Store it now; it cannot be recovered.",
          ].join("\n"),
        );
        return 0;
      }
      case "list": {
        const keys = await api.keys.list.query({});
        print(keys, () =>
          table(
            keys.map((k) => ({ ...k, uses: k.usage.uses, status: k.revokedAt ? "revoked" : "active" })),
            ["keyId", "env", "name", "owner", "status", "expiresAt", "uses", "scopes"],
          ),
        );
        return 0;
      }
      case "show": {
        const key = await api.keys.show.query({ keyId: requirePositional(positionals, "keys show ID") });
        print(key, () => escapeControls(JSON.stringify(key, null, 2)));
        return 0;
      }
      case "revoke": {
        const revoked = await api.keys.revoke.mutate({
          keyId: requirePositional(positionals, "keys revoke ID"),
        });
        print(revoked, () => `revoked ${revoked.keyId} at ${revoked.revokedAt}`);
        return 0;
      }
      default:
        throw new UsageError(`unknown command: keys ${sub ?? ""}`);
    }
  });
};
