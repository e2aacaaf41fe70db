import {
  createWallet,
  getWalletAsOf,
  readWallet,
  readWallets,
  terminateWallet,
  updateWallet,
  type WalletAsOfDto,
  type WalletDto,
  walletBalanceHistory,
} from '@wallets/db';
import { z } from 'zod';
import {
  appliesToInput,
  creditsInput,
  currencyInput,
  dateInput,
  externalIdInput,
  idempotencyKeyInput,
  idInput,
  listInput,
  metadataInput,
  nameInput,
  positiveCents,
  rateInput,
  ruleInput,
  text,
} from '../schemas.js';
import { orgProcedure, router } from '../trpc.js';

const codeInput = text().trim().min(1).max(255);
const priorityInput = z.number().int().min(1).max(50);

export const walletsRouter = router({
  create: orgProcedure
    .input(
      z.object({
        externalCustomerId: externalIdInput,
        rateAmount: rateInput,
        currency: currencyInput.optional(),
        name: nameInput.nullish(),
        code: codeInput.optional(),
        priority: priorityInput.optional(),
        paidCredits: creditsInput.optional(),
        grantedCredits: creditsInput.optional(),
        expirationAt: dateInput.nullish(),
        invoiceRequiresSuccessfulPayment: z.boolean().optional(),
        transactionMetadata: metadataInput(5).optional(),
        transactionName: nameInput.optional(),
        appliesTo: appliesToInput.optional(),
        paidTopUpMinAmountCents: positiveCents.nullish(),
        paidTopUpMaxAmountCents: positiveCents.nullish(),
        ignorePaidTopUpLimitsOnCreation: z.boolean().optional(),
        recurringTransactionRules: z.array(ruleInput).max(1).optional(),
        idempotencyKey: idempotencyKeyInput,
      }),
    )
    .mutation(({ ctx, input }) => createWallet(ctx.org.door(input), input)),
  /** Now (one statement), or with `asOf` the balances as the settled ledger stood then (ongoing fields null). */
  get: orgProcedure
    .input(z.object({ id: idInput, asOf: dateInput.optional() }))
    .query(
      ({ ctx, input }): Promise<WalletDto | WalletAsOfDto> =>
        input.asOf === undefined
          ? readWallet(ctx.services.orm.em, ctx.org.organizationId, input.id)
          : getWalletAsOf(ctx.org.em, ctx.org.organizationId, input.id, input.asOf),
    ),
  balanceHistory: orgProcedure
    .input(z.object({ id: idInput, from: dateInput, to: dateInput, interval: z.enum(['day', 'week', 'month']) }))
    .query(({ ctx, input }) => walletBalanceHistory(ctx.org.em, ctx.org.organizationId, input)),
  list: orgProcedure
    .input(
      z
        .object({ externalCustomerId: externalIdInput.optional(), status: z.enum(['active', 'terminated']).optional(), ...listInput })
        .default({ limit: 20 }),
    )
    .query(({ ctx, input }) => readWallets(ctx.services.orm.em, ctx.org.organizationId, input)),
  update: orgProcedure
    .input(
      z.object({
        id: idInput,
        name: nameInput.nullish(),
        code: codeInput.optional(),
        priority: priorityInput.optional(),
        expirationAt: dateInput.nullable().optional(),
        invoiceRequiresSuccessfulPayment: z.boolean().optional(),
        appliesTo: appliesToInput.optional(),
        paidTopUpMinAmountCents: positiveCents.nullable().optional(),
        paidTopUpMaxAmountCents: positiveCents.nullable().optional(),
        recurringTransactionRules: z.array(ruleInput).max(1).optional(),
        idempotencyKey: idempotencyKeyInput,
      }),
    )
    .mutation(({ ctx, input }) => updateWallet(ctx.org.door(input), input)),
  terminate: orgProcedure
    .input(z.object({ id: idInput, idempotencyKey: idempotencyKeyInput }))
    .mutation(({ ctx, input }) => terminateWallet(ctx.org.door(input), input.id)),
});
