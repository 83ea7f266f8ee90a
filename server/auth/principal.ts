// Who is calling: a verified API key (with its ancestors' limits, which every call is charged
// to), or the local operator, who is root.
import { FIXED_SCOPES } from "./scopes.ts";

export interface Principal {
  kind: "key" | "local-cli";
  /** The key id, or `local-cli` for the operator. */
  keyId: string;
  name: string;
  owner: string;
  env: "live" | "test";
  scopes: string[];
  /** key_limits rows of this key and its ancestors, nearest first: every admitted call is charged to all. */
  limitIds: string[];
  /** This key's id and its ancestors' ids, nearest first. */
  lineage: string[];
  expiresAt: Date | null;
  limits: { rpm: number | null; dailyTokens: number | null; maxUses: number | null };
  usage: { uses: number; tokensToday: number };
  endUser: string | null;
  /** The end user the key itself is bound to, if any (derived keys). */
  boundEndUser: string | null;
}

export const LOCAL_OPERATOR = "local-cli";

export function localOperator(): Principal {
  return {
    kind: "local-cli",
    keyId: LOCAL_OPERATOR,
    name: "local operator",
    owner: LOCAL_OPERATOR,
    env: "live",
    scopes: [...FIXED_SCOPES, "db:*", "tool:*"],
    limitIds: [],
    lineage: [],
    expiresAt: null,
    limits: { rpm: null, dailyTokens: null, maxUses: null },
    usage: { uses: 0, tokensToday: 0 },
    endUser: null,
    boundEndUser: null,
  };
}
