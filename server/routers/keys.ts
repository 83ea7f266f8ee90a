// Key management: whoami for any valid key; derive for `keys:derive`; create, list, show,
// revoke, rotate and limit changes for `admin:keys`.
import { z } from "zod";
import type { Scope } from "../auth/scopes.ts";
import { checkDerivable } from "../keys/grants.ts";
import { listKeys, ownLimits, scopesOfKey, showKey } from "../keys/lookup.ts";
import { revokeKey, rotateKey, setLimits } from "../keys/manage.ts";
import { createKey, deriveKey } from "../keys/mint.ts";
import { createKeyInput, deriveKeyInput, keyId, rotateKeyInput, setLimitsInput } from "../keys/schemas.ts";
import { nothingAudited, router, scopedProcedure } from "../trpc.ts";

/** The audit keeps the key id and expiry of a minted key, never the key itself. */
const mintedForAudit = (minted: { keyId: string; expiresAt: string | null }) => ({
  output: JSON.stringify({ keyId: minted.keyId, expiresAt: minted.expiresAt }),
});

export const keysRouter = router({
  // Any valid key may see itself; asking costs no use of a one-time key (only a rate slot).
  whoami: scopedProcedure({ scopes: [], input: z.strictObject({}).optional(), admit: false }).query(
    async ({ ctx }) => {
      const p = ctx.principal;
      return {
        ...(await ownLimits(ctx, p)),
        keyId: p.keyId,
        name: p.name,
        owner: p.owner,
        env: p.env,
        scopes: p.scopes,
        expiresAt: p.expiresAt?.toISOString() ?? null,
        endUser: p.endUser,
      };
    },
    nothingAudited,
  ),

  // A key grants only what the granter holds: the requested scopes are required scopes,
  // checked before admission.
  create: scopedProcedure({
    scopes: ["admin:keys"],
    input: createKeyInput,
    inputScopes: (input) => input.scopes,
  }).mutation(({ ctx, input }) => createKey(ctx, ctx.principal, ctx.call.callId, input), mintedForAudit),

  derive: scopedProcedure({
    scopes: ["keys:derive"],
    input: deriveKeyInput,
    inputScopes: (input) => {
      checkDerivable(input.scopes);
      return input.scopes;
    },
  }).mutation(({ ctx, input }) => deriveKey(ctx, ctx.principal, ctx.call.callId, input), mintedForAudit),

  list: scopedProcedure({ scopes: ["admin:keys"], input: z.strictObject({}).optional() }).query(
    ({ ctx }) => listKeys(ctx),
    nothingAudited,
  ),

  show: scopedProcedure({ scopes: ["admin:keys"], input: z.strictObject({ keyId }) }).query(
    ({ ctx, input }) => showKey(ctx, input.keyId),
    nothingAudited,
  ),

  revoke: scopedProcedure({ scopes: ["admin:keys"], input: z.strictObject({ keyId }) }).mutation(
    ({ ctx, input }) => revokeKey(ctx, ctx.principal, ctx.call.callId, input.keyId),
    nothingAudited,
  ),

  // Rotation hands out a working key with the target's scopes, so the caller must hold them.
  rotate: scopedProcedure({
    scopes: ["admin:keys"],
    input: rotateKeyInput,
    inputScopes: async (input, ctx) => (await scopesOfKey(ctx, input.keyId)) as Scope[],
  }).mutation(
    ({ ctx, input }) => rotateKey(ctx, ctx.principal, ctx.call.callId, input.keyId, input.graceSeconds),
    mintedForAudit,
  ),

  setLimits: scopedProcedure({ scopes: ["admin:keys"], input: setLimitsInput }).mutation(
    ({ ctx, input }) => setLimits(ctx, ctx.principal, ctx.call.callId, input),
    nothingAudited,
  ),
});
