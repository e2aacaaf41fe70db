/**
 * "Add a wallet & credits" and "Edit wallet" -> "Edit information": the seed's fields (optional
 * name, credit value in the customer's currency, paid and granted credits, invoice only after a
 * successful payment, expiration date, limits to fee types and billable metrics) plus priority and
 * paid top-up limits. Entries are sent as typed (decimals as strings) and the server judges them;
 * its errors come back beside the fields. An edit sends only what changed.
 */
import { SUPPORTED_CURRENCIES } from '@wallets/core';
import { type FormEvent, useState } from 'react';
import type { CreateWalletInput, Customer, UpdateWalletInput, Wallet } from '../api.js';
import { centsToDecimal, dateInputValue, endOfDayUtc, formatRate, moneyToCents } from '../format.js';
import { CreditPreviewNote } from './credit-preview.js';
import { CheckboxField, CheckboxGroup, FormMessage, SelectField, TextField, useSubmit } from './fields.js';

type FeeType = NonNullable<NonNullable<CreateWalletInput['appliesTo']>['feeTypes']>[number];

export const FEE_TYPE_LABELS = {
  subscription: 'Subscription fees',
  charge: 'Usage-based charges',
  fixed_charge: 'Fixed charges',
  commitment: 'Minimum commitments',
  add_on: 'Add-ons',
  credit: 'Credits',
} as const satisfies Record<FeeType, string>;

const FEE_TYPE_OPTIONS = Object.entries(FEE_TYPE_LABELS).map(([value, label]) => ({ value, label }));

/** API field -> label, for messages about fields. */
const FIELDS = {
  name: 'Name',
  code: 'Code',
  currency: 'Currency',
  rateAmount: 'Credit value',
  paidCredits: 'Purchased credits',
  grantedCredits: 'Granted credits',
  invoiceRequiresSuccessfulPayment: 'Invoice only after a successful payment',
  expirationAt: 'Expiration date',
  priority: 'Priority',
  feeTypes: 'Fee types',
  billableMetricCodes: 'Billable metrics',
  paidTopUpMinAmountCents: 'Paid top-up minimum',
  paidTopUpMaxAmountCents: 'Paid top-up maximum',
} as const;

export interface WalletValues {
  name: string;
  code: string;
  currency: string;
  rateAmount: string;
  paidCredits: string;
  grantedCredits: string;
  invoiceRequiresSuccessfulPayment: boolean;
  expirationAt: string;
  priority: string;
  feeTypes: string[];
  billableMetricCodes: string;
  paidTopUpMinAmountCents: string;
  paidTopUpMaxAmountCents: string;
}

function initialValues(currency: string, wallet: Wallet | undefined): WalletValues {
  const money = (cents: number | null | undefined) => (cents == null ? '' : centsToDecimal(cents, currency));
  return {
    name: wallet?.name ?? '',
    code: wallet?.code ?? '',
    currency,
    rateAmount: wallet?.rateAmount ?? '1',
    paidCredits: '',
    grantedCredits: '',
    invoiceRequiresSuccessfulPayment: wallet?.invoiceRequiresSuccessfulPayment ?? false,
    expirationAt: dateInputValue(wallet?.expirationAt ?? null),
    priority: String(wallet?.priority ?? 50),
    feeTypes: [...(wallet?.appliesTo.feeTypes ?? [])],
    billableMetricCodes: (wallet?.appliesTo.billableMetricCodes ?? []).join(', '),
    paidTopUpMinAmountCents: money(wallet?.paidTopUpMinAmountCents),
    paidTopUpMaxAmountCents: money(wallet?.paidTopUpMaxAmountCents),
  };
}

const trimmed = (text: string): string | undefined => text.trim() || undefined;
const metricCodes = (text: string): string[] => text.split(/[\s,]+/).filter(Boolean);
const sameList = (a: readonly string[], b: readonly string[]) => a.length === b.length && [...a].sort().join() === [...b].sort().join();

/** Money limits are entered in the currency's units; they go out as cents, or are refused here. */
function limitsOf(values: WalletValues): { cents: { min: number | null; max: number | null }; errors: Record<string, string> } {
  const errors: Record<string, string> = {};
  const read = (field: 'paidTopUpMinAmountCents' | 'paidTopUpMaxAmountCents') => {
    if (!values[field].trim()) return null;
    const entry = moneyToCents(values[field], values.currency);
    if (entry.ok) return entry.cents;
    errors[field] = entry.reason;
    return null;
  };
  return { cents: { min: read('paidTopUpMinAmountCents'), max: read('paidTopUpMaxAmountCents') }, errors };
}

export function createWalletInput(values: WalletValues, customer: Customer, cents: { min: number | null; max: number | null }): CreateWalletInput {
  const input: CreateWalletInput = {
    externalCustomerId: customer.externalId,
    rateAmount: values.rateAmount.trim(),
    name: trimmed(values.name) ?? null,
    priority: Number(values.priority),
    invoiceRequiresSuccessfulPayment: values.invoiceRequiresSuccessfulPayment,
    expirationAt: values.expirationAt ? endOfDayUtc(values.expirationAt) : null,
    appliesTo: { feeTypes: values.feeTypes as FeeType[], billableMetricCodes: metricCodes(values.billableMetricCodes) },
    paidTopUpMinAmountCents: cents.min,
    paidTopUpMaxAmountCents: cents.max,
  };
  if (!customer.currency) input.currency = values.currency;
  const code = trimmed(values.code);
  if (code) input.code = code;
  const paid = trimmed(values.paidCredits);
  const granted = trimmed(values.grantedCredits);
  if (paid) input.paidCredits = paid;
  if (granted) input.grantedCredits = granted;
  return input;
}

export function updateWalletInput(values: WalletValues, wallet: Wallet, cents: { min: number | null; max: number | null }): UpdateWalletInput {
  const before = initialValues(wallet.currency, wallet);
  const input: UpdateWalletInput = { id: wallet.id };
  if (values.name !== before.name) input.name = trimmed(values.name) ?? null;
  if (values.code !== before.code) input.code = values.code.trim();
  if (values.priority !== before.priority) input.priority = Number(values.priority);
  if (values.expirationAt !== before.expirationAt) input.expirationAt = values.expirationAt ? endOfDayUtc(values.expirationAt) : null;
  if (values.invoiceRequiresSuccessfulPayment !== before.invoiceRequiresSuccessfulPayment) {
    input.invoiceRequiresSuccessfulPayment = values.invoiceRequiresSuccessfulPayment;
  }
  const codes = metricCodes(values.billableMetricCodes);
  if (!sameList(values.feeTypes, before.feeTypes) || !sameList(codes, wallet.appliesTo.billableMetricCodes)) {
    input.appliesTo = { feeTypes: values.feeTypes as FeeType[], billableMetricCodes: codes };
  }
  if (values.paidTopUpMinAmountCents !== before.paidTopUpMinAmountCents) input.paidTopUpMinAmountCents = cents.min;
  if (values.paidTopUpMaxAmountCents !== before.paidTopUpMaxAmountCents) input.paidTopUpMaxAmountCents = cents.max;
  return input;
}

type WalletFormProps = { customer: Customer; onCancel(): void; onDone(): void } & (
  | { mode: 'create'; onSubmit(input: CreateWalletInput): Promise<unknown> }
  | { mode: 'edit'; wallet: Wallet; onSubmit(input: UpdateWalletInput): Promise<unknown> }
);

export function WalletForm(props: WalletFormProps) {
  const { customer, mode } = props;
  const wallet = props.mode === 'edit' ? props.wallet : undefined;
  const [values, setValues] = useState(() => initialValues(wallet?.currency ?? customer.currency ?? 'USD', wallet));
  const currency = wallet?.currency ?? customer.currency ?? values.currency;
  const { pending, errors, run, formRef } = useSubmit({ fields: FIELDS, currency });
  const set =
    <K extends keyof WalletValues>(key: K) =>
    (value: WalletValues[K]) =>
      setValues((current) => ({ ...current, [key]: value }));
  const error = (field: keyof typeof FIELDS) => errors.fields[field];
  const title = mode === 'create' ? 'Add a wallet & credits' : 'Edit information';
  const headingId = `wallet-form-${wallet?.id ?? 'new'}-title`;
  // Under the Wallets heading when adding, under the wallet's own heading when editing.
  const Heading = mode === 'create' ? 'h4' : 'h5';

  async function submit(event: FormEvent) {
    event.preventDefault();
    const limits = limitsOf({ ...values, currency });
    const ok = await run(
      () =>
        props.mode === 'create'
          ? props.onSubmit(createWalletInput(values, customer, limits.cents))
          : props.onSubmit(updateWalletInput(values, props.wallet, limits.cents)),
      limits.errors,
    );
    if (ok) props.onDone();
  }

  const rateHint = (() => {
    const rate = values.rateAmount.trim();
    if (!/^\d+(\.\d{1,5})?$/.test(rate)) return `The value of one credit in ${currency}.`;
    return `1 credit = ${formatRate(rate, currency)}`;
  })();

  return (
    <section className="panel" aria-labelledby={headingId}>
      <Heading id={headingId}>{title}</Heading>
      <form ref={formRef} onSubmit={submit} noValidate>
        <FormMessage message={errors.form} />
        <div className="form-columns">
          <fieldset className="form-column">
            <legend>Wallet</legend>
            <TextField name="name" label="Name (optional)" value={values.name} onChange={set('name')} error={error('name')} />
            <TextField
              name="code"
              label={mode === 'create' ? 'Code (optional)' : 'Code'}
              hint={
                mode === 'create'
                  ? 'Unique among the customer’s active wallets; derived from the name when empty.'
                  : 'Unique among the customer’s active wallets.'
              }
              value={values.code}
              onChange={set('code')}
              error={error('code')}
            />
            {mode === 'create' && !customer.currency ? (
              <SelectField
                name="currency"
                label="Currency"
                hint="The customer has no currency yet: this wallet sets it."
                value={values.currency}
                onChange={set('currency')}
                error={error('currency')}
                options={SUPPORTED_CURRENCIES.map((code) => ({ value: code, label: code }))}
              />
            ) : null}
            <TextField
              name="priority"
              label="Priority"
              inputMode="numeric"
              hint="1 to 50; wallets with a lower number are used first."
              value={values.priority}
              onChange={set('priority')}
              error={error('priority')}
            />
            <TextField
              name="expirationAt"
              label="Expiration date (optional)"
              type="date"
              hint="At the end of this day (UTC) every remaining credit is voided. Empty: credits never expire."
              value={values.expirationAt}
              onChange={set('expirationAt')}
              error={error('expirationAt')}
            />
            <CheckboxField
              name="invoiceRequiresSuccessfulPayment"
              label="Invoice a top-up only after a successful payment"
              hint="Unchecked: the invoice is issued at once on a top-up, whatever the payment status. Applies to all of this wallet's top-ups unless a top-up says otherwise."
              checked={values.invoiceRequiresSuccessfulPayment}
              onChange={set('invoiceRequiresSuccessfulPayment')}
              error={error('invoiceRequiresSuccessfulPayment')}
            />
          </fieldset>
          {mode === 'create' ? (
            <fieldset className="form-column">
              <legend>Credits</legend>
              {customer.currency ? <p className="hint">Currency: {customer.currency} (the customer's currency).</p> : null}
              <TextField
                name="rateAmount"
                label="Credit value"
                prefix="1 credit ="
                suffix={currency}
                inputMode="decimal"
                required
                hint={rateHint}
                value={values.rateAmount}
                onChange={set('rateAmount')}
                error={error('rateAmount')}
              />
              <TextField
                name="paidCredits"
                label="Purchased credits"
                inputMode="decimal"
                hint="Paid credits stay pending until the payment succeeds."
                value={values.paidCredits}
                onChange={set('paidCredits')}
                error={error('paidCredits')}
              />
              <TextField
                name="grantedCredits"
                label="Granted credits"
                inputMode="decimal"
                hint="Free credits, available at once."
                value={values.grantedCredits}
                onChange={set('grantedCredits')}
                error={error('grantedCredits')}
              />
              <CreditPreviewNote rate={values.rateAmount} currency={currency} paid={values.paidCredits} granted={values.grantedCredits} />
            </fieldset>
          ) : null}
        </div>
        <div className="form-columns">
          <fieldset className="form-column" aria-describedby={`${headingId}-scope-note`}>
            <legend>Limit wallet credits to specific objects</legend>
            <p className="note" id={`${headingId}-scope-note`}>
              Selecting all items has the same effect as selecting none. Leave them all unselected unless a specific restriction is needed.
            </p>
            <CheckboxGroup
              name="feeTypes"
              label="Fee types"
              options={FEE_TYPE_OPTIONS}
              selected={values.feeTypes}
              onChange={set('feeTypes')}
              error={error('feeTypes')}
            />
            <TextField
              name="billableMetricCodes"
              label="Billable metrics"
              hint="Billable metric codes, separated by commas. Empty: no limit."
              value={values.billableMetricCodes}
              onChange={set('billableMetricCodes')}
              error={error('billableMetricCodes')}
            />
          </fieldset>
          <fieldset className="form-column">
            <legend>Paid top-up limits (optional)</legend>
            <TextField
              name="paidTopUpMinAmountCents"
              label="Paid top-up minimum"
              inputMode="decimal"
              suffix={currency}
              value={values.paidTopUpMinAmountCents}
              onChange={set('paidTopUpMinAmountCents')}
              error={error('paidTopUpMinAmountCents')}
            />
            <TextField
              name="paidTopUpMaxAmountCents"
              label="Paid top-up maximum"
              inputMode="decimal"
              suffix={currency}
              value={values.paidTopUpMaxAmountCents}
              onChange={set('paidTopUpMaxAmountCents')}
              error={error('paidTopUpMaxAmountCents')}
            />
          </fieldset>
        </div>
        <div className="actions">
          <button type="submit" className="primary" disabled={pending}>
            {mode === 'create' ? 'Add wallet & credits' : 'Edit information'}
          </button>
          <button type="button" onClick={props.onCancel}>
            Cancel
          </button>
        </div>
      </form>
    </section>
  );
}
