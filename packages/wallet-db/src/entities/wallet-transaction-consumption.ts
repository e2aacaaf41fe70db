import { EntitySchema } from '@mikro-orm/core';
import { cents, createdAt, credits, id, org } from './column-types.js';
import type { Organization } from './organization.js';
import type { WalletTransaction } from './wallet-transaction.js';

export class WalletTransactionConsumption {
  id!: string;
  organization!: Organization;
  inbound!: WalletTransaction;
  outbound!: WalletTransaction;
  creditAmount!: bigint;
  amountCents!: bigint;
  /** Copied from the lot by a trigger on insert (migration 20261207221500): for reads of past balances. */
  walletId?: string;
  lotKind?: 'purchased' | 'granted';
  /** The outbound's line in reports.credits, copied by the same trigger (migration 20261208002000). */
  outflow?: 'consumed' | 'voided' | 'expired' | 'terminated' | 'clawedBack';
  createdAt: Date = new Date();
}

export const WalletTransactionConsumptionSchema = new EntitySchema<WalletTransactionConsumption>({
  class: WalletTransactionConsumption,
  tableName: 'wallet_transaction_consumptions',
  checks: [
    {
      name: 'consumptions_amounts_valid',
      expression: '"credit_amount" >= 0 and "amount_cents" >= 0 and ("credit_amount" > 0 or "amount_cents" > 0)',
    },
  ],
  uniques: [{ name: 'consumptions_pair_unique', properties: ['organization', 'inbound', 'outbound'] }],
  indexes: [
    { name: 'consumptions_outbound_idx', properties: ['organization', 'outbound'] },
    {
      name: 'consumptions_wallet_time_idx',
      expression:
        'create index "consumptions_wallet_time_idx" on "wallet_transaction_consumptions" ("organization_id", "wallet_id", "created_at") include ("lot_kind", "outflow", "amount_cents", "credit_amount")',
    },
  ],
  properties: {
    id,
    organization: org,
    inbound: { kind: 'm:1', entity: 'WalletTransaction', fieldName: 'inbound_wallet_transaction_id' },
    outbound: { kind: 'm:1', entity: 'WalletTransaction', fieldName: 'outbound_wallet_transaction_id' },
    creditAmount: credits(),
    amountCents: cents(),
    // Filled by the database (trigger), never by the ORM.
    walletId: { type: 'uuid', fieldName: 'wallet_id', persist: false, nullable: true },
    lotKind: { type: 'string', length: 16, fieldName: 'lot_kind', persist: false, nullable: true },
    outflow: { type: 'string', length: 16, fieldName: 'outflow', persist: false, nullable: true },
    createdAt,
  },
});
