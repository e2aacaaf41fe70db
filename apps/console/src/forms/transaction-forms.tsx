/**
 * Top-up (paid and granted credits, invoice option, optional name and lot expiry) and void
 * (credits removed from the balance) on an active wallet: both are `walletTransactions.create`.
 */
import { type FormEvent, useState } from 'react';
import type { CreateTransactionsInput, Wallet } from '../api.js';
import { endOfDayUtc, formatCredits, formatMoney, formatRate } from '../format.js';
import { ConfirmDialog } from './confirm-dialog.js';
import { CreditPreviewNote } from './credit-preview.js';
import { CheckboxField, FormMessage, TextField, useSubmit } from './fields.js';

const TOP_UP_FIELDS = {
  paidCredits: 'Purchased credits',
  grantedCredits: 'Granted credits',
  invoiceRequiresSuccessfulPayment: 'Invoice only after a successful payment',
  name: 'Name',
  expirationAt: 'Expiration date',
} as const;

export interface TopUpValues {
  paidCredits: string;
  grantedCredits: string;
  invoiceRequiresSuccessfulPayment: boolean;
  name: string;
  expirationAt: string;
}

export function topUpInput(values: TopUpValues, wallet: Wallet): CreateTransactionsInput {
  const input: CreateTransactionsInput = { walletId: wallet.id, invoiceRequiresSuccessfulPayment: values.invoiceRequiresSuccessfulPayment };
  if (values.paidCredits.trim()) input.paidCredits = values.paidCredits.trim();
  if (values.grantedCredits.trim()) input.grantedCredits = values.grantedCredits.trim();
  if (values.name.trim()) input.name = values.name.trim();
  if (values.expirationAt) input.expirationAt = endOfDayUtc(values.expirationAt);
  return input;
}

interface TransactionFormProps {
  wallet: Wallet;
  onSubmit(input: CreateTransactionsInput): Promise<unknown>;
  onCancel(): void;
  onDone(): void;
}

export function TopUpForm({ wallet, onSubmit, onCancel, onDone }: TransactionFormProps) {
  const [values, setValues] = useState<TopUpValues>({
    paidCredits: '',
    grantedCredits: '',
    invoiceRequiresSuccessfulPayment: wallet.invoiceRequiresSuccessfulPayment,
    name: '',
    expirationAt: '',
  });
  const { pending, errors, run, formRef } = useSubmit({ fields: TOP_UP_FIELDS, currency: wallet.currency });
  const set =
    <K extends keyof TopUpValues>(key: K) =>
    (value: TopUpValues[K]) =>
      setValues((current) => ({ ...current, [key]: value }));
  const headingId = `top-up-${wallet.id}`;

  async function submit(event: FormEvent) {
    event.preventDefault();
    if (await run(() => onSubmit(topUpInput(values, wallet)))) onDone();
  }

  return (
    <section className="panel" aria-labelledby={headingId}>
      <h5 id={headingId}>Top up</h5>
      <p className="hint">1 credit = {formatRate(wallet.rateAmount, wallet.currency)}</p>
      <form ref={formRef} onSubmit={submit} noValidate>
        <FormMessage message={errors.form} />
        <TextField
          name="paidCredits"
          label="Purchased credits"
          inputMode="decimal"
          hint="Pending until the payment succeeds."
          value={values.paidCredits}
          onChange={set('paidCredits')}
          error={errors.fields.paidCredits}
        />
        <TextField
          name="grantedCredits"
          label="Granted credits"
          inputMode="decimal"
          hint="Free credits, available at once."
          value={values.grantedCredits}
          onChange={set('grantedCredits')}
          error={errors.fields.grantedCredits}
        />
        <CreditPreviewNote rate={wallet.rateAmount} currency={wallet.currency} paid={values.paidCredits} granted={values.grantedCredits} />
        <CheckboxField
          name="invoiceRequiresSuccessfulPayment"
          label="Invoice this top-up only after a successful payment"
          checked={values.invoiceRequiresSuccessfulPayment}
          onChange={set('invoiceRequiresSuccessfulPayment')}
          error={errors.fields.invoiceRequiresSuccessfulPayment}
        />
        <TextField name="name" label="Transaction name (optional)" value={values.name} onChange={set('name')} error={errors.fields.name} />
        <TextField
          name="expirationAt"
          label="Credits expire on (optional)"
          type="date"
          hint="No later than the wallet's own expiration."
          value={values.expirationAt}
          onChange={set('expirationAt')}
          error={errors.fields.expirationAt}
        />
        <div className="actions">
          <button type="submit" className="primary" disabled={pending}>
            Top up
          </button>
          <button type="button" onClick={onCancel}>
            Cancel
          </button>
        </div>
      </form>
    </section>
  );
}

const VOID_FIELDS = { voidedCredits: 'Credits to void' } as const;

export function VoidForm({ wallet, onSubmit, onCancel, onDone }: TransactionFormProps) {
  const [voidedCredits, setVoidedCredits] = useState('');
  const { pending, errors, run, formRef } = useSubmit({ fields: VOID_FIELDS, currency: wallet.currency });
  const headingId = `void-${wallet.id}`;

  async function submit(event: FormEvent) {
    event.preventDefault();
    if (await run(() => onSubmit({ walletId: wallet.id, voidedCredits: voidedCredits.trim() }))) onDone();
  }

  return (
    <section className="panel" aria-labelledby={headingId}>
      <h5 id={headingId}>Void credits</h5>
      <form ref={formRef} onSubmit={submit} noValidate>
        <FormMessage message={errors.form} />
        <TextField
          name="voidedCredits"
          label="Credits to void"
          inputMode="decimal"
          required
          hint={`The wallet holds ${formatCredits(wallet.creditsBalance)} (${formatMoney(wallet.balanceCents, wallet.currency)}).`}
          value={voidedCredits}
          onChange={setVoidedCredits}
          error={errors.fields.voidedCredits}
        />
        <div className="actions">
          <button type="submit" className="primary" disabled={pending}>
            Void credits
          </button>
          <button type="button" onClick={onCancel}>
            Cancel
          </button>
        </div>
      </form>
    </section>
  );
}

/** "Terminate wallet" confirmed in a dialog: it voids every remaining credit for good. */
export function TerminateDialog({
  wallet,
  onSubmit,
  onCancel,
  onDone,
}: {
  wallet: Wallet;
  onSubmit(): Promise<unknown>;
  onCancel(): void;
  onDone(): void;
}) {
  return (
    <ConfirmDialog
      title="Terminate wallet"
      confirmLabel="Terminate wallet"
      currency={wallet.currency}
      onConfirm={onSubmit}
      onCancel={onCancel}
      onDone={onDone}
    >
      <p>
        Terminating wallet {wallet.name || wallet.code} instantly voids every remaining credit ({formatCredits(wallet.creditsBalance)},{' '}
        {formatMoney(wallet.balanceCents, wallet.currency)}) and fails its pending top-ups. This action cannot be undone.
      </p>
    </ConfirmDialog>
  );
}
