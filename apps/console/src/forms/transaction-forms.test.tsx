/** Top-up, void and terminate forms in happy-dom: what they send, errors beside fields, the warning. */
import { cleanup, render, screen, waitFor } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { CreateTransactionsInput, Wallet } from '../api.js';
import { TerminateDialog, TopUpForm, VoidForm } from './transaction-forms.js';

afterEach(cleanup);

const wallet = {
  id: 'w1',
  name: 'Main',
  code: 'main',
  currency: 'EUR',
  rateAmount: '2',
  balanceCents: 2450,
  creditsBalance: '12.25',
  invoiceRequiresSuccessfulPayment: true,
} as Wallet;

const rejection = (data: Record<string, unknown>) => Object.assign(new Error('refused'), { data: { code: 'BAD_REQUEST', ...data } });

describe('Top up', () => {
  it('sends paid and granted credits with the invoice option (the wallet default) and the lot expiry', async () => {
    const onSubmit = vi.fn(async (_input: CreateTransactionsInput) => undefined);
    const onDone = vi.fn();
    render(<TopUpForm wallet={wallet} onSubmit={onSubmit} onCancel={() => undefined} onDone={onDone} />);
    const user = userEvent.setup();
    expect((screen.getByLabelText('Invoice this top-up only after a successful payment') as HTMLInputElement).checked).toBe(true);
    await user.type(screen.getByLabelText('Purchased credits'), '3');
    await user.type(screen.getByLabelText('Granted credits'), '1.5');
    await user.type(screen.getByLabelText('Credits expire on (optional)'), '2027-01-31');
    await user.click(screen.getByRole('button', { name: 'Top up' }));
    await waitFor(() => expect(onDone).toHaveBeenCalled());
    expect(onSubmit).toHaveBeenCalledWith({
      walletId: 'w1',
      paidCredits: '3',
      grantedCredits: '1.5',
      invoiceRequiresSuccessfulPayment: true,
      expirationAt: new Date('2027-01-31T23:59:59.000Z'),
    });
  });

  it('puts a below-minimum refusal beside the purchased credits, in the wallet currency', async () => {
    const onSubmit = vi.fn(async () => {
      throw rejection({
        walletErrorCode: 'AMOUNT_BELOW_MINIMUM',
        details: { field: 'paidCredits', amountCents: 200, paidTopUpMinAmountCents: 1000 },
      });
    });
    render(<TopUpForm wallet={wallet} onSubmit={onSubmit} onCancel={() => undefined} onDone={() => undefined} />);
    const user = userEvent.setup();
    await user.type(screen.getByLabelText('Purchased credits'), '1');
    await user.click(screen.getByRole('button', { name: 'Top up' }));
    const paid = screen.getByLabelText('Purchased credits') as HTMLInputElement;
    await waitFor(() => expect(paid.getAttribute('aria-invalid')).toBe('true'));
    expect(screen.getByText("These paid credits are worth €2.00, below the wallet's paid top-up minimum of €10.00.")).toBeTruthy();
    expect(paid.value).toBe('1');
  });
});

describe('Void credits', () => {
  it('sends the credits and shows a refusal beside them', async () => {
    const onSubmit = vi.fn(async (_input: CreateTransactionsInput) => {
      throw rejection({ code: 'UNPROCESSABLE_CONTENT', walletErrorCode: 'INSUFFICIENT_CREDITS', details: { field: 'voidedCredits' } });
    });
    render(<VoidForm wallet={wallet} onSubmit={onSubmit} onCancel={() => undefined} onDone={() => undefined} />);
    const user = userEvent.setup();
    expect(screen.getByText('The wallet holds 12.25 credits (€24.50).')).toBeTruthy();
    await user.type(screen.getByLabelText('Credits to void', { exact: false }), '20');
    await user.click(screen.getByRole('button', { name: 'Void credits' }));
    expect(await screen.findByText('The wallet does not hold that many credits.')).toBeTruthy();
    expect(onSubmit).toHaveBeenCalledWith({ walletId: 'w1', voidedCredits: '20' });
    expect((screen.getByLabelText('Credits to void', { exact: false }) as HTMLInputElement).value).toBe('20');
  });
});

describe('Terminate wallet', () => {
  it('warns that every remaining credit is voided for good, and confirms with a second click', async () => {
    const onSubmit = vi.fn(async () => undefined);
    const onDone = vi.fn();
    render(<TerminateDialog wallet={wallet} onSubmit={onSubmit} onCancel={() => undefined} onDone={onDone} />);
    const dialog = screen.getByRole('alertdialog', { name: 'Terminate wallet' });
    expect(dialog.textContent).toContain('instantly voids every remaining credit (12.25 credits, €24.50)');
    expect(dialog.textContent).toContain('This action cannot be undone.');
    expect(document.activeElement?.textContent).toBe('Cancel');
    await userEvent.setup().click(screen.getByRole('button', { name: 'Terminate wallet' }));
    await waitFor(() => expect(onDone).toHaveBeenCalled());
    expect(onSubmit).toHaveBeenCalledTimes(1);
  });
});
