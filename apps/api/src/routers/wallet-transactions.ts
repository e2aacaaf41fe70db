import { createWalletTransactions, readTransaction, readTransactions, recordPayment } from '@wallets/db';
import { z } from 'zod';
import { creditsInput, dateInput, idempotencyKeyInput, idInput, listInput, metadataInput, nameInput, text } from '../schemas.js';
import { orgProcedure, router } from '../trpc.js';

export const walletTransactionsRouter = router({
  create: orgProcedure
    .input(
      z.object({
        walletId: idInput,
        paidCredits: creditsInput.optional(),
        grantedCredits: creditsInput.optional(),
        voidedCredits: creditsInput.optional(),
        invoiceRequiresSuccessfulPayment: z.boolean().optional(),
        ignorePaidTopUpLimits: z.boolean().optional(),
        name: nameInput.nullish(),
        metadata: metadataInput(15).optional(),
        expirationAt: dateInput.nullish(),
        priority: z.number().int().min(1).max(50).optional(),
        idempotencyKey: idempotencyKeyInput,
      }),
    )
    .mutation(({ ctx, input }) => createWalletTransactions(ctx.org.door(input), input)),
  get: orgProcedure
    .input(z.object({ id: idInput }))
    .query(({ ctx, input }) => readTransaction(ctx.services.orm.em, ctx.org.organizationId, input.id)),
  list: orgProcedure
    .input(
      z.object({
        walletId: idInput,
        status: z.enum(['pending', 'settled', 'failed']).optional(),
        transactionType: z.enum(['inbound', 'outbound']).optional(),
        transactionStatus: z.enum(['purchased', 'granted', 'voided', 'invoiced']).optional(),
        ...listInput,
      }),
    )
    .query(({ ctx, input }) => readTransactions(ctx.services.orm.em, ctx.org.organizationId, input)),
  recordPayment: orgProcedure
    .input(
      z.object({
        id: idInput,
        status: z.enum(['succeeded', 'failed']),
        invoiceId: text().min(1).max(255).optional(),
        idempotencyKey: idempotencyKeyInput,
      }),
    )
    .mutation(({ ctx, input }) => recordPayment(ctx.org.door(input), input)),
});
