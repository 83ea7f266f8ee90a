// `scopegate keys …`: create, list, show, revoke, rotate, set-limits, derive.
import { type CliIo, defineCommand, JSON_OPTION, printer, wholeNumber, withConnection } from "../command.ts";
import { escapeControls, parseDuration, table, UsageError } from "../format.ts";

const KEY_ENVS = ["live", "test"] as const;

const LIMIT_OPTIONS = {
  ttl: { type: "string", arg: "5m", help: "expires after this long (s, m, h, d)" },
  "max-uses": { type: "string", arg: "N", help: "admitted calls before the key is used up" },
  rpm: { type: "string", arg: "N", help: "requests per minute" },
  "daily-tokens": { type: "string", arg: "N", help: "model tokens per day" },
} as const;

const SCOPE_OPTION = {
  scope: { type: "string", multiple: true, arg: "S", help: "a scope the key holds" },
} as const;

interface Minted {
  keyId: string;
  key: string;
  expiresAt: string | null;
}

/** A new key: shown once, with what it is; --json prints the API's fields. */
function showMinted(io: CliIo, json: boolean | undefined, minted: Minted, extra: string[]): void {
  printer(io, json)(minted, () =>
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
}

function limits(values: { ttl?: string; "max-uses"?: string; rpm?: string; "daily-tokens"?: string }) {
  return {
    ttlSeconds: values.ttl ? parseDuration(values.ttl) : undefined,
    maxUses: wholeNumber("max-uses", values["max-uses"]),
    rpm: wholeNumber("rpm", values.rpm),
    dailyTokens: wholeNumber("daily-tokens", values["daily-tokens"]),
  };
}

const create = defineCommand({
  name: "keys create",
  synopsis:
    "--name N --scope S [--scope S ...] [--owner O] [--ttl 5m] [--max-uses N] [--rpm N] [--daily-tokens N] [--env live|test] [--json]",
  summary: "Create an API key (its secret is printed once).",
  options: {
    name: { type: "string", arg: "N", help: "a name for people reading key lists" },
    ...SCOPE_OPTION,
    owner: { type: "string", arg: "O", help: "the user, team or service that owns the key" },
    ...LIMIT_OPTIONS,
    env: { type: "string", arg: "live|test", help: "test keys use only the offline model (default live)" },
    ...JSON_OPTION,
  },
  async run({ values }, io) {
    if (!values.name || !values.scope?.length) {
      throw new UsageError("keys create needs --name and at least one --scope");
    }
    const env = values.env === undefined ? undefined : KEY_ENVS.find((e) => e === values.env);
    if (values.env !== undefined && env === undefined) throw new UsageError("--env is live or test");
    const input = {
      name: values.name,
      scopes: values.scope,
      owner: values.owner,
      env,
      ...limits(values),
    };
    return withConnection(io, async ({ api }) => {
      const created = await api.keys.create.mutate(input);
      showMinted(io, values.json, created, [`scopes:  ${created.scopes.join(" ")}`]);
      return 0;
    });
  },
});

const list = defineCommand({
  name: "keys list",
  synopsis: "[--json]",
  summary: "List keys (never their secrets).",
  options: { ...JSON_OPTION },
  run: ({ values }, io) =>
    withConnection(io, async ({ api }) => {
      const keys = await api.keys.list.query({});
      printer(io, values.json)(keys, () =>
        table(
          keys.map((k) => ({ ...k, uses: k.usage.uses, status: k.revokedAt ? "revoked" : "active" })),
          ["keyId", "env", "name", "owner", "status", "expiresAt", "uses", "scopes"],
        ),
      );
      return 0;
    }),
});

const show = defineCommand({
  name: "keys show",
  synopsis: "ID [--json]",
  summary: "Show one key's metadata and usage.",
  options: { ...JSON_OPTION },
  positionals: ["ID"],
  run: ({ values, positionals: [keyId = ""] }, io) =>
    withConnection(io, async ({ api }) => {
      const key = await api.keys.show.query({ keyId });
      printer(io, values.json)(key, () => escapeControls(JSON.stringify(key, null, 2)));
      return 0;
    }),
});

const revoke = defineCommand({
  name: "keys revoke",
  synopsis: "ID [--json]",
  summary: "Revoke a key and every key derived from it.",
  options: { ...JSON_OPTION },
  positionals: ["ID"],
  run: ({ values, positionals: [keyId = ""] }, io) =>
    withConnection(io, async ({ api }) => {
      const revoked = await api.keys.revoke.mutate({ keyId });
      printer(io, values.json)(revoked, () => `revoked ${revoked.keyId} at ${revoked.revokedAt}`);
      return 0;
    }),
});

const rotate = defineCommand({
  name: "keys rotate",
  synopsis: "ID [--grace 10m] [--json]",
  summary: "Issue a new secret for a key; the old one stays valid for the grace period.",
  options: {
    grace: { type: "string", arg: "10m", help: "how long the old secret keeps working" },
    ...JSON_OPTION,
  },
  positionals: ["ID"],
  async run({ values, positionals: [keyId = ""] }, io) {
    const graceSeconds = values.grace ? parseDuration(values.grace) : undefined;
    return withConnection(io, async ({ api }) => {
      const rotated = await api.keys.rotate.mutate({ keyId, graceSeconds });
      showMinted(io, values.json, rotated, [
        `replaces: ${rotated.rotatedFromId} (valid until ${rotated.oldKeyExpiresAt})`,
      ]);
      return 0;
    });
  },
});

const setLimits = defineCommand({
  name: "keys set-limits",
  synopsis: "ID [--rpm N|none] [--daily-tokens N|none] [--json]",
  summary: "Change a key's rate limit and daily token budget (none removes one).",
  options: {
    rpm: { type: "string", arg: "N|none", help: "requests per minute" },
    "daily-tokens": { type: "string", arg: "N|none", help: "model tokens per day" },
    ...JSON_OPTION,
  },
  positionals: ["ID"],
  async run({ values, positionals: [keyId = ""] }, io) {
    const limit = (flag: string, value: string | undefined) =>
      value === "none" ? null : wholeNumber(flag, value);
    const input = {
      keyId,
      rpm: limit("rpm", values.rpm),
      dailyTokens: limit("daily-tokens", values["daily-tokens"]),
    };
    return withConnection(io, async ({ api }) => {
      const updated = await api.keys.setLimits.mutate(input);
      printer(io, values.json)(
        updated,
        () =>
          `${updated.keyId}: rpm ${updated.rpm ?? "unlimited"}, daily tokens ${updated.dailyTokens ?? "unlimited"}`,
      );
      return 0;
    });
  },
});

// A key is 60 characters; more than this before a newline is not a key.
const MAX_KEY_LINE = 1024;

/** The first line of stdin: how a parent key arrives without landing in argv (shell history, ps). */
async function readKeyFromStdin(io: CliIo): Promise<string> {
  if (io.stdin.isTTY) throw new UsageError("--from-key - reads the parent key from stdin; pipe it in");
  let text = "";
  for await (const chunk of io.stdin) {
    text += chunk.toString();
    const end = text.indexOf("\n");
    if (end !== -1) return text.slice(0, end).trim();
    if (text.length > MAX_KEY_LINE)
      throw new UsageError("--from-key -: the first line of stdin is not a key");
  }
  return text.trim();
}

const derive = defineCommand({
  name: "keys derive",
  synopsis:
    "--scope S [--scope S ...] [--from-key -] [--ttl 5m] [--max-uses N] [--rpm N] [--daily-tokens N] [--end-user U] [--json]",
  summary: "Mint a child key (a subset of the parent's scopes) from a key holding keys:derive.",
  details:
    "The parent key comes from SCOPEGATE_API_KEY, or from stdin with --from-key - (a key given on the command line lands in shell history and process lists).",
  options: {
    "from-key": { type: "string", arg: "-", help: "- reads the parent key from stdin" },
    ...SCOPE_OPTION,
    ...LIMIT_OPTIONS,
    "end-user": { type: "string", arg: "U", help: "bind the child key to this end user" },
    ...JSON_OPTION,
  },
  async run({ values }, io) {
    if (!values.scope?.length) throw new UsageError("keys derive needs at least one --scope");
    const input = { scopes: values.scope, endUser: values["end-user"], ...limits(values) };
    const flag = values["from-key"];
    let parent: string | undefined;
    if (flag === "-") parent = await readKeyFromStdin(io);
    else if (flag !== undefined) {
      io.err(
        "scopegate: warning: a key given on the command line lands in shell history; use SCOPEGATE_API_KEY or --from-key -",
      );
      parent = flag;
    } else parent = io.env.SCOPEGATE_API_KEY;
    if (!parent)
      throw new UsageError(
        "keys derive needs the parent key: set SCOPEGATE_API_KEY or pipe it with --from-key -",
      );
    // A derived key comes from a key, never from root: act as that key.
    return withConnection(
      io,
      async ({ api }) => {
        const derived = await api.keys.derive.mutate(input);
        showMinted(io, values.json, derived, [`scopes:  ${derived.scopes.join(" ")}`]);
        return 0;
      },
      parent,
    );
  },
});

export const keysCommands = [create, list, show, revoke, rotate, setLimits, derive];
