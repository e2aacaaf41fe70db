import { customerTotals, readCustomer, readCustomers, upsertCustomer } from '@wallets/db';
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
    .mutation(({ ctx, input }) => upsertCustomer(ctx.org.door(input), input)),
  get: orgProcedure
    .input(z.object({ externalId: externalIdInput }))
    .query(({ ctx, input }) => readCustomer(ctx.services.orm.em, ctx.org.organizationId, input.externalId)),
  list: orgProcedure
    .input(z.object({ search: text().max(255).optional(), includeTotals: z.boolean().optional(), ...listInput }).default({ limit: 20 }))
    .query(async ({ ctx, input }) => {
      const page = await readCustomers(ctx.services.orm.em, ctx.org.organizationId, input);
      if (!input.includeTotals) return page;
      const totals = await customerTotals(
        ctx.org.em,
        ctx.org.organizationId,
        page.items.map((c) => c.id),
      );
      return { ...page, items: page.items.map((c) => ({ ...c, totals: totals.get(c.id) ?? [] })) };
    }),
});
