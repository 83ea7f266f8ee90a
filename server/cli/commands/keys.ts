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
      grace: { type: "string" },
      "from-key": { type: "string" },
      "end-user": { type: "string" },
    },
  });
  const print = printer(io, values.json);
  const showMinted = (
    minted: { keyId: string; key: string; expiresAt: string | null },
    extra: string[] = [],
  ) =>
    print(minted, () =>
      [
        `key id:  ${minted.keyId}`,
        ...extra,
        `expires: ${minted.expiresAt ?? "never"}`,
        "",
        minted.key,
        "",
        "This key is shown once. Store it now; it cannot be recovered.",
      ].join("\n"),
    );
  if (sub === "derive") {
    // A derived key comes from a key, never from root: act as that key.
    const fromKey = values["from-key"];
    if (!fromKey || !values.scope?.length)
      throw new UsageError("keys derive needs --from-key and at least one --scope");
    return withConnection(
      io,
      async ({ api }) => {
        const derived = await api.keys.derive.mutate({
          scopes: values.scope ?? [],
          ttlSeconds: values.ttl ? parseDuration(values.ttl) : undefined,
          maxUses: wholeNumber("max-uses", values["max-uses"]),
          rpm: wholeNumber("rpm", values.rpm),
          dailyTokens: wholeNumber("daily-tokens", values["daily-tokens"]),
          endUser: values["end-user"],
        });
        showMinted(derived, [`scopes:  ${derived.scopes.join(" ")}`]);
        return 0;
      },
      fromKey,
    );
  }
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
        showMinted(created, [`scopes:  ${created.scopes.join(" ")}`]);
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
      case "rotate": {
        const rotated = await api.keys.rotate.mutate({
          keyId: requirePositional(positionals, "keys rotate ID [--grace 10m]"),
          graceSeconds: values.grace ? parseDuration(values.grace) : undefined,
        });
        showMinted(rotated, [`replaces: ${rotated.rotatedFromId} (valid until ${rotated.oldKeyExpiresAt})`]);
        return 0;
      }
      case "set-limits": {
        const keyId = requirePositional(
          positionals,
          "keys set-limits ID [--rpm N|none] [--daily-tokens N|none]",
        );
        const limit = (flag: string, value: string | undefined) =>
          value === "none" ? null : wholeNumber(flag, value);
        const updated = await api.keys.setLimits.mutate({
          keyId,
          rpm: limit("rpm", values.rpm),
          dailyTokens: limit("daily-tokens", values["daily-tokens"]),
        });
        print(
          updated,
          () =>
            `${updated.keyId}: rpm ${updated.rpm ?? "unlimited"}, daily tokens ${updated.dailyTokens ?? "unlimited"}`,
        );
        return 0;
      }
      default:
        throw new UsageError(`unknown command: keys ${sub ?? ""}`);
    }
  });
};
