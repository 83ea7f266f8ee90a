// Step 6: the call is charged to its key (admitCall: a use, a rate slot, the token reservation
// and the `admitted` record, in one transaction) and gets the budget its model rounds draw on;
// or, for procedures that are not admitted, only takes a rate slot (takeRateSlotStep).
import { admit } from "../auth/admission.ts";
import type { Admitted, Authenticated } from "../context.ts";
import { takeRateSlot } from "../keys/rate-only.ts";
import type { Step } from "./t.ts";

export const admitCall: Step<Authenticated, Pick<Admitted, "budget">> = async ({
  ctx,
  meta,
  input,
  path,
  next,
}) => {
  const reserve = meta?.reserveTokens ? await meta.reserveTokens(ctx, input) : 0;
  const budget = await admit(
    ctx,
    {
      phase: "admitted",
      requestId: ctx.request.requestId,
      callId: ctx.call.callId,
      keyId: ctx.principal.keyId,
      owner: ctx.principal.owner,
      endUser: ctx.principal.endUser,
      procedure: path,
      scopes: ctx.call.scopes,
      clientAddress: ctx.request.clientAddress,
    },
    reserve,
  );
  return next({ ctx: { budget } });
};

/**
 * A call that is not admitted still takes a rate slot: it is a database read and an audit
 * record, so it must not be free to repeat.
 */
export const takeRateSlotStep: Step<Authenticated, object> = async ({ ctx, next }) => {
  await takeRateSlot(ctx, ctx.principal);
  return next();
};
