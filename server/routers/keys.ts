// Key management: whoami for any valid key; create/list/show/revoke for `admin:keys`.
import { z } from "zod";
import { createKeyInput, keyId } from "../keys/schemas.ts";
import { createKey, listKeys, revokeKey, showKey } from "../keys/service.ts";
import { router, scopedProcedure } from "../trpc.ts";

export const keysRouter = router({
  // Any valid key may see itself; asking costs no use of a one-time key.
  whoami: scopedProcedure({ scopes: [], input: z.strictObject({}).optional(), admit: false }).query(
    ({ ctx }) => {
      const p = ctx.principal;
      return {
        keyId: p.keyId,
        name: p.name,
        owner: p.owner,
        env: p.env,
        scopes: p.scopes,
        expiresAt: p.expiresAt?.toISOString() ?? null,
        endUser: p.endUser,
        limits: { rpm: p.rpm, dailyTokens: p.dailyTokens, maxUses: p.maxUses },
        usage: { uses: p.uses },
      };
    },
  ),

  create: scopedProcedure({ scopes: ["admin:keys"], input: createKeyInput }).mutation(
    async ({ ctx, input }) => {
      const created = await createKey(ctx, ctx.principal, ctx.call.callId, input);
      // The audit keeps the key id and expiry, never the returned key.
      ctx.call.auditOutput = JSON.stringify({ keyId: created.keyId, expiresAt: created.expiresAt });
      return created;
    },
  ),

  list: scopedProcedure({ scopes: ["admin:keys"], input: z.strictObject({}).optional() }).query(({ ctx }) =>
    listKeys(ctx),
  ),

  show: scopedProcedure({ scopes: ["admin:keys"], input: z.strictObject({ keyId }) }).query(
    ({ ctx, input }) => showKey(ctx, input.keyId),
  ),

  revoke: scopedProcedure({ scopes: ["admin:keys"], input: z.strictObject({ keyId }) }).mutation(
    async ({ ctx, input }) => revokeKey(ctx, ctx.principal, ctx.call.callId, input.keyId),
  ),
});
