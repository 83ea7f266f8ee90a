// Who is calling: a verified API key (with its ancestors, which every call is charged to),
// or the local operator, who is root.
import { FIXED_SCOPES } from "./scopes.ts";

export interface Principal {
  kind: "key" | "local-cli";
  /** The key id, or `local-cli` for the operator. */
  keyId: string;
  name: string;
  owner: string;
  env: "live" | "test";
  scopes: string[];
  /** This key and its ancestors, nearest first: every admitted call is charged to all. */
  chargeTo: string[];
  expiresAt: Date | null;
  maxUses: number | null;
  uses: number;
  rpm: number | null;
  dailyTokens: number | null;
  endUser: string | null;
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
    chargeTo: [],
    expiresAt: null,
    maxUses: null,
    uses: 0,
    rpm: null,
    dailyTokens: null,
    endUser: null,
  };
}
