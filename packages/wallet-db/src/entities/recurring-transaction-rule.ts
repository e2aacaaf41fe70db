import { EntitySchema } from '@mikro-orm/core';
import type { MetadataPair, RuleInterval, RuleMethod, RuleTrigger } from '@wallets/core';
import { createdAt, credits, id, org, timestamp } from './column-types.js';
import type { Organization } from './organization.js';
import type { Wallet } from './wallet.js';

export type { RuleInterval, RuleMethod, RuleTrigger } from '@wallets/core';

export class RecurringTransactionRule {
  id!: string;
  organization!: Organization;
  wallet!: Wallet;
  status: 'active' | 'terminated' = 'active';
  trigger!: RuleTrigger;
  interval: RuleInterval | null = null;
  method: RuleMethod = 'fixed';
  paidCredits = 0n;
  grantedCredits = 0n;
  thresholdCredits = 0n;
  targetOngoingBalance: bigint | null = null;
  grantsTargetTopUp = false;
  ignorePaidTopUpLimits = false;
  invoiceRequiresSuccessfulPayment = false;
  startedAt: Date | null = null;
  expirationAt: Date | null = null;
  transactionMetadata: MetadataPair[] = [];
  transactionName: string | null = null;
  terminatedAt: Date | null = null;
  createdAt: Date = new Date();
}

export const RecurringTransactionRuleSchema = new EntitySchema<RecurringTransactionRule>({
  class: RecurringTransactionRule,
  tableName: 'recurring_transaction_rules',
  indexes: [{ name: 'rules_wallet_status_idx', properties: ['organization', 'wallet', 'status'] }],
  properties: {
    id,
    organization: org,
    wallet: { kind: 'm:1', entity: 'Wallet', fieldName: 'wallet_id' },
    status: { type: 'string', length: 16, default: 'active' },
    trigger: { type: 'string', length: 16 },
    interval: { type: 'string', length: 16, nullable: true },
    method: { type: 'string', length: 16, default: 'fixed' },
    paidCredits: credits(),
    grantedCredits: credits(),
    thresholdCredits: credits(),
    targetOngoingBalance: { ...credits(), nullable: true },
    grantsTargetTopUp: { type: 'boolean', default: false },
    ignorePaidTopUpLimits: { type: 'boolean', default: false },
    invoiceRequiresSuccessfulPayment: { type: 'boolean', default: false },
    startedAt: timestamp(),
    expirationAt: timestamp(),
    transactionMetadata: { type: 'json', columnType: 'jsonb', defaultRaw: "'[]'::jsonb" },
    transactionName: { type: 'string', length: 255, nullable: true },
    terminatedAt: timestamp(),
    createdAt,
  },
});
