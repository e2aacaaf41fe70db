import { creditsReport } from '@wallets/db';
import { z } from 'zod';
import { currencyInput, dateInput, externalIdInput } from '../schemas.js';
import { orgProcedure, router } from '../trpc.js';

export const reportsRouter = router({
  /** The period (from, to]: opening + toppedUp + recredited - consumed - voided - expired - terminated - clawedBack = closing, per kind. */
  credits: orgProcedure
    .input(z.object({ currency: currencyInput, from: dateInput, to: dateInput, externalCustomerId: externalIdInput.optional() }))
    .query(({ ctx, input }) => creditsReport(ctx.org.em, ctx.org.organizationId, input)),
});
