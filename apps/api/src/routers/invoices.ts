import { applyPrepaidCredits, previewPrepaidCredits, voidInvoice } from '@wallets/db';
import { z } from 'zod';
import { idempotencyKeyInput, invoiceInput, text, usageSyncInput } from '../schemas.js';
import { orgProcedure, router } from '../trpc.js';

export const invoicesRouter = router({
  previewPrepaidCredits: orgProcedure
    .input(z.object({ invoice: invoiceInput }))
    .mutation(({ ctx, input }) => previewPrepaidCredits(ctx.org.door(input), input.invoice)),
  applyPrepaidCredits: orgProcedure
    .input(z.object({ invoice: invoiceInput, usage: usageSyncInput.optional(), idempotencyKey: idempotencyKeyInput }))
    .mutation(({ ctx, input }) => applyPrepaidCredits(ctx.org.door(input), input.invoice, input.usage)),
  void: orgProcedure
    .input(z.object({ invoiceId: text().min(1).max(255), idempotencyKey: idempotencyKeyInput }))
    .mutation(({ ctx, input }) => voidInvoice(ctx.org.door(input), input.invoiceId)),
});
