/**
 * The wallet form in happy-dom: every control labelled, the input it sends (decimals as typed,
 * the end of the chosen day, scope lists, cents), server errors beside their fields with every
 * entry kept, and an edit that sends only what changed.
 */
import { cleanup, render, screen, waitFor } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { CreateWalletInput, Customer, UpdateWalletInput, Wallet } from '../api.js';
import { WalletForm } from './wallet-form.js';

afterEach(cleanup);

const customer: Customer = { id: 'c1', externalId: 'cus_1', currency: 'USD', timezone: 'UTC', createdAt: new Date('2026-01-01T00:00:00Z') };

const wallet: Wallet = {
  id: 'w1',
  externalCustomerId: 'cus_1',
  name: 'Main',
  code: 'main',
  status: 'active',
  currency: 'USD',
  rateAmount: '5',
  priority: 10,
  balanceCents: 5000,
  creditsBalance: '10',
  ongoingBalanceCents: 5000,
  creditsOngoingBalance: '10',
  ongoingUsageBalanceCents: 0,
  creditsOngoingUsageBalance: '0',
  consumedCredits: '0',
  consumedAmountCents: 0,
  expirationAt: new Date('2027-06-30T23:59:59Z'),
  terminatedAt: null,
  invoiceRequiresSuccessfulPayment: false,
  paidTopUpMinAmountCents: 1000,
  paidTopUpMaxAmountCents: null,
  appliesTo: { feeTypes: ['charge'], billableMetricCodes: [] },
  recurringTransactionRules: [],
  createdAt: new Date('2026-01-01T00:00:00Z'),
  updatedAt: new Date('2026-01-01T00:00:00Z'),
} as Wallet;

/** A rejection shaped like the typed client's TRPCClientError. */
function serverError(message: string, data: Record<string, unknown>): Error {
  return Object.assign(new Error(message), { data: { code: 'BAD_REQUEST', ...data } });
}

function renderCreate(onSubmit: (input: CreateWalletInput) => Promise<unknown>, forCustomer = customer) {
  const onDone = vi.fn();
  render(<WalletForm mode="create" customer={forCustomer} onSubmit={onSubmit} onCancel={() => undefined} onDone={onDone} />);
  return { onDone, user: userEvent.setup() };
}

describe('Add a wallet & credits', () => {
  it('labels every control', () => {
    renderCreate(async () => undefined, { ...customer, currency: null });
    for (const control of document.querySelectorAll<HTMLInputElement | HTMLSelectElement>('input, select')) {
      expect(control.labels?.length, `${control.name} has a label`).toBeGreaterThan(0);
    }
    for (const label of ['Name (optional)', 'Currency', 'Credit value', 'Purchased credits', 'Granted credits', 'Expiration date (optional)']) {
      expect(screen.getByLabelText(label, { exact: false })).toBeTruthy();
    }
    expect(screen.getByText(/Selecting all items has the same effect as selecting none/)).toBeTruthy();
  });

  it('sends every field of the seed as entered', async () => {
    const onSubmit = vi.fn(async (_input: CreateWalletInput) => undefined);
    const { user, onDone } = renderCreate(onSubmit);
    await user.type(screen.getByLabelText('Name (optional)'), 'Prepaid');
    await user.clear(screen.getByLabelText('Credit value', { exact: false }));
    await user.type(screen.getByLabelText('Credit value', { exact: false }), '5');
    expect(screen.getByText('1 credit = $5.00')).toBeTruthy();
    await user.type(screen.getByLabelText('Purchased credits'), '20');
    await user.type(screen.getByLabelText('Granted credits'), '10.5');
    await user.click(screen.getByLabelText('Invoice a top-up only after a successful payment'));
    await user.type(screen.getByLabelText('Expiration date (optional)'), '2027-03-31');
    await user.click(screen.getByLabelText('Usage-based charges'));
    await user.type(screen.getByLabelText('Billable metrics'), 'api_calls, storage');
    await user.type(screen.getByLabelText('Paid top-up minimum'), '12.5');
    await user.click(screen.getByRole('button', { name: 'Add wallet & credits' }));
    await waitFor(() => expect(onDone).toHaveBeenCalled());
    expect(onSubmit).toHaveBeenCalledWith({
      externalCustomerId: 'cus_1',
      name: 'Prepaid',
      rateAmount: '5',
      paidCredits: '20',
      grantedCredits: '10.5',
      invoiceRequiresSuccessfulPayment: true,
      expirationAt: new Date('2027-03-31T23:59:59.000Z'),
      priority: 50,
      appliesTo: { feeTypes: ['charge'], billableMetricCodes: ['api_calls', 'storage'] },
      paidTopUpMinAmountCents: 1250,
      paidTopUpMaxAmountCents: null,
    });
  });

  it('asks for the currency only while the customer has none', async () => {
    const onSubmit = vi.fn(async (_input: CreateWalletInput) => undefined);
    const { user } = renderCreate(onSubmit, { ...customer, currency: null });
    await user.selectOptions(screen.getByLabelText('Currency'), 'JPY');
    expect(screen.getByText('1 credit = ¥1')).toBeTruthy();
    await user.click(screen.getByRole('button', { name: 'Add wallet & credits' }));
    await waitFor(() => expect(onSubmit).toHaveBeenCalled());
    expect(onSubmit.mock.calls[0]?.[0].currency).toBe('JPY');
  });

  it('shows server errors beside their fields, in words, and keeps every entry', async () => {
    const onSubmit = vi.fn(async () => {
      throw serverError('rateAmount: must be a decimal string such as "10" or "10.5"; grantedCredits: must not be negative', {
        walletErrorCode: 'VALIDATION_FAILED',
        issues: [
          { path: ['rateAmount'], message: 'must be a decimal string such as "10" or "10.5"' },
          { path: ['grantedCredits'], message: 'must not be negative' },
        ],
      });
    });
    const { user, onDone } = renderCreate(onSubmit);
    await user.type(screen.getByLabelText('Name (optional)'), 'Kept');
    await user.clear(screen.getByLabelText('Credit value', { exact: false }));
    await user.type(screen.getByLabelText('Credit value', { exact: false }), 'five');
    await user.type(screen.getByLabelText('Granted credits'), '-1');
    await user.click(screen.getByRole('button', { name: 'Add wallet & credits' }));

    const rate = await screen.findByLabelText('Credit value', { exact: false });
    await waitFor(() => expect(rate.getAttribute('aria-invalid')).toBe('true'));
    const rateError = document.getElementById(
      rate
        .getAttribute('aria-describedby')!
        .split(' ')
        .find((id) => id.endsWith('-error'))!,
    );
    expect(rateError?.textContent).toBe('Must be a decimal string such as "10" or "10.5".');
    await waitFor(() => expect(document.activeElement).toBe(rate));
    expect(screen.getByLabelText('Granted credits').getAttribute('aria-invalid')).toBe('true');
    expect(screen.getByText('Must not be negative.')).toBeTruthy();
    expect((screen.getByLabelText('Name (optional)') as HTMLInputElement).value).toBe('Kept');
    expect((rate as HTMLInputElement).value).toBe('five');
    expect((screen.getByLabelText('Granted credits') as HTMLInputElement).value).toBe('-1');
    expect(onDone).not.toHaveBeenCalled();
  });

  it('places business errors on the field the server names and others at the top of the form', async () => {
    const errors = [
      serverError('expirationAt must be in the future', { walletErrorCode: 'INVALID_EXPIRATION_DATE', details: { field: 'expirationAt' } }),
      serverError('paidCredits is worth more than the maximum', {
        walletErrorCode: 'AMOUNT_ABOVE_MAXIMUM',
        details: { field: 'paidCredits', amountCents: 50000, paidTopUpMaxAmountCents: 10000 },
      }),
      serverError('a customer may have at most 6 active wallets', {
        code: 'CONFLICT',
        walletErrorCode: 'WALLET_LIMIT_REACHED',
        details: { limit: 6 },
      }),
    ];
    const onSubmit = vi.fn(async () => {
      throw errors.shift();
    });
    const { user } = renderCreate(onSubmit);
    const submit = screen.getByRole('button', { name: 'Add wallet & credits' });
    await user.click(submit);
    expect(await screen.findByText('The expiration date must be in the future.')).toBeTruthy();
    await user.click(submit);
    expect(await screen.findByText("These paid credits are worth $500.00, above the wallet's paid top-up maximum of $100.00.")).toBeTruthy();
    expect(screen.getByLabelText('Purchased credits').getAttribute('aria-invalid')).toBe('true');
    expect(screen.getByLabelText('Expiration date (optional)').getAttribute('aria-invalid')).toBeNull();
    await user.click(submit);
    expect((await screen.findByRole('alert')).textContent).toBe('This customer already has 6 active wallets, the most allowed. Terminate one first.');
  });

  it('refuses a limit that is not a whole number of cents before sending anything', async () => {
    const onSubmit = vi.fn(async () => undefined);
    const { user } = renderCreate(onSubmit);
    await user.type(screen.getByLabelText('Paid top-up maximum'), '1.005');
    await user.click(screen.getByRole('button', { name: 'Add wallet & credits' }));
    expect(await screen.findByText('USD amounts have at most 2 decimal places.')).toBeTruthy();
    expect(onSubmit).not.toHaveBeenCalled();
  });
});

describe('Edit information', () => {
  function renderEdit(onSubmit: (input: UpdateWalletInput) => Promise<unknown>) {
    render(<WalletForm mode="edit" customer={customer} wallet={wallet} onSubmit={onSubmit} onCancel={() => undefined} onDone={() => undefined} />);
    return userEvent.setup();
  }

  it('starts from the wallet and sends only what changed', async () => {
    const onSubmit = vi.fn(async (_input: UpdateWalletInput) => undefined);
    const user = renderEdit(onSubmit);
    const expiration = screen.getByLabelText('Expiration date (optional)') as HTMLInputElement;
    expect(expiration.value).toBe('2027-06-30');
    expect((screen.getByLabelText('Paid top-up minimum') as HTMLInputElement).value).toBe('10.00');
    expect((screen.getByLabelText('Usage-based charges') as HTMLInputElement).checked).toBe(true);
    expect(screen.queryByLabelText('Credit value', { exact: false })).toBeNull();
    await user.clear(expiration);
    await user.type(expiration, '2027-12-31');
    await user.click(screen.getByRole('button', { name: 'Edit information' }));
    await waitFor(() => expect(onSubmit).toHaveBeenCalledWith({ id: 'w1', expirationAt: new Date('2027-12-31T23:59:59.000Z') }));
  });

  it('puts a duplicate code beside the code field', async () => {
    const onSubmit = vi.fn(async (_input: UpdateWalletInput) => {
      throw serverError('an active wallet of this customer already has code bonus', {
        code: 'CONFLICT',
        walletErrorCode: 'CODE_ALREADY_EXISTS',
        details: { field: 'code' },
      });
    });
    const user = renderEdit(onSubmit);
    const code = screen.getByLabelText('Code') as HTMLInputElement;
    await user.clear(code);
    await user.type(code, 'bonus');
    await user.click(screen.getByRole('button', { name: 'Edit information' }));
    expect(await screen.findByText('Another active wallet of this customer already has this code.')).toBeTruthy();
    expect(code.getAttribute('aria-invalid')).toBe('true');
    expect(code.value).toBe('bonus');
    expect(onSubmit).toHaveBeenCalledWith({ id: 'w1', code: 'bonus' });
  });

  it('clears the expiration and the scope', async () => {
    const onSubmit = vi.fn(async (_input: UpdateWalletInput) => undefined);
    const user = renderEdit(onSubmit);
    await user.clear(screen.getByLabelText('Expiration date (optional)'));
    await user.click(screen.getByLabelText('Usage-based charges'));
    await user.clear(screen.getByLabelText('Paid top-up minimum'));
    await user.click(screen.getByRole('button', { name: 'Edit information' }));
    await waitFor(() =>
      expect(onSubmit).toHaveBeenCalledWith({
        id: 'w1',
        expirationAt: null,
        appliesTo: { feeTypes: [], billableMetricCodes: [] },
        paidTopUpMinAmountCents: null,
      }),
    );
  });
});
