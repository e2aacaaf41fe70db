import { getCustomer, listCustomers, upsertCustomer } from '@wallets/db';
import { z } from 'zod';
import { currencyInput, externalIdInput, idempotencyKeyInput, listInput, text, timezoneInput } from '../schemas.js';
import { orgProcedure, router } from '../trpc.js';

export const customersRouter = router({
  upsert: orgProcedure
    .input(
      z.object({
        externalId: externalIdInput,
        currency: currencyInput.optional(),
        timezone: timezoneInput.optional(),
        idempotencyKey: idempotencyKeyInput,
      }),
    )
    .mutation(({ ctx, input }) => ctx.org.mutate(input, (work) => upsertCustomer(work, input))),
  get: orgProcedure
    .input(z.object({ externalId: externalIdInput }))
    .query(({ ctx, input }) => getCustomer(ctx.org.em, ctx.org.organizationId, input.externalId)),
  list: orgProcedure
    .input(z.object({ search: text().max(255).optional(), ...listInput }).default({ limit: 20 }))
    .query(({ ctx, input }) => listCustomers(ctx.org.em, ctx.org.organizationId, input)),
});
