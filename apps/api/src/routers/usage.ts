import { syncUsage } from '@wallets/db';
import { idempotencyKeyInput, usageSyncInput } from '../schemas.js';
import { orgProcedure, router } from '../trpc.js';

export const usageRouter = router({
  sync: orgProcedure.input(usageSyncInput.extend({ idempotencyKey: idempotencyKeyInput })).mutation(({ ctx, input }) => {
    const { idempotencyKey: _key, ...usage } = input;
    return syncUsage(ctx.org.door(input), usage);
  }),
});
