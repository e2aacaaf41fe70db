/**
 * Reports: the credits report of a month (`reports.credits`) for one currency, optionally one
 * customer. Months are calendar months in UTC: (first instant of the month, first instant of the
 * next]. Each line is shown per kind (purchased, granted) and in total, and the identity is shown
 * tying out: opening + inflows - outflows = closing, computed here in integer cents and compared with
 * the closing the server reports. The same report downloads as CSV.
 */
import { useQuery } from '@tanstack/react-query';
import { SUPPORTED_CURRENCIES } from '@wallets/core';
import { useId, useState } from 'react';
import { downloadCsv, queryKeys, type RouterOutputs, useClient } from '../api.js';
import { formatMoney, formatMonth } from '../format.js';
import { QueryError } from './query-error.js';
import { TableScroll } from './table-scroll.js';

type CreditsReport = RouterOutputs['reports']['credits'];
type KindCents = CreditsReport['opening'];

const INFLOWS = [
  ['toppedUp', 'Topped up'],
  ['recredited', 'Recredited (voided invoices)'],
] as const;
const OUTFLOWS = [
  ['consumed', 'Consumed by invoices'],
  ['voided', 'Voided'],
  ['expired', 'Expired'],
  ['terminated', 'Terminated wallets'],
  ['clawedBack', 'Clawed back (failed payments)'],
] as const;

/** "2026-11" -> the month in UTC: from its first instant to the first instant of the next. */
export function monthRange(month: string): { from: Date; to: Date } {
  const [year, index] = month.split('-').map(Number) as [number, number];
  return { from: new Date(Date.UTC(year, index - 1, 1)), to: new Date(Date.UTC(year, index, 1)) };
}

export function currentMonth(now: Date): string {
  return now.toISOString().slice(0, 7);
}

const total = (line: KindCents) => BigInt(line.purchasedCents) + BigInt(line.grantedCents);

/** The identity per kind and in total, in integer cents. */
export function tieOut(report: CreditsReport) {
  const sum = (kind: 'purchasedCents' | 'grantedCents' | 'total') => {
    const of = (line: KindCents) => (kind === 'total' ? total(line) : BigInt(line[kind]));
    const inflow = INFLOWS.reduce((s, [key]) => s + of(report[key]), 0n);
    const outflow = OUTFLOWS.reduce((s, [key]) => s + of(report[key]), 0n);
    return { opening: of(report.opening), inflow, outflow, expected: of(report.opening) + inflow - outflow, closing: of(report.closing) };
  };
  const lines = { purchased: sum('purchasedCents'), granted: sum('grantedCents'), total: sum('total') };
  return { ...lines, ties: Object.values(lines).every((l) => l.expected === l.closing) };
}

export function Reports() {
  const client = useClient();
  const [currency, setCurrency] = useState('USD');
  const [month, setMonth] = useState(() => currentMonth(new Date()));
  const [customer, setCustomer] = useState('');
  const [download, setDownload] = useState<{ pending: boolean; error: string | null }>({ pending: false, error: null });
  const ids = { currency: useId(), month: useId(), customer: useId() };
  const validMonth = /^\d{4}-(0[1-9]|1[0-2])$/.test(month);
  const externalCustomerId = customer.trim();
  const range = validMonth ? monthRange(month) : null;
  const report = useQuery({
    queryKey: queryKeys.report(currency, month, externalCustomerId),
    queryFn: () =>
      client.reports.credits.query({ currency, ...(range as { from: Date; to: Date }), ...(externalCustomerId ? { externalCustomerId } : {}) }),
    enabled: range !== null,
  });
  const money = (cents: number | bigint) => formatMoney(Number(cents), currency);

  const downloadReport = async () => {
    if (!range) return;
    setDownload({ pending: true, error: null });
    try {
      const params: Record<string, string> = { currency, from: range.from.toISOString(), to: range.to.toISOString() };
      if (externalCustomerId) params.externalCustomerId = externalCustomerId;
      await downloadCsv(
        '/exports/credits-report.csv',
        params,
        `credits-report-${currency}-${month}${externalCustomerId ? `-${externalCustomerId}` : ''}.csv`,
      );
      setDownload({ pending: false, error: null });
    } catch (error) {
      setDownload({ pending: false, error: error instanceof Error ? error.message : String(error) });
    }
  };

  const row = (label: string, line: KindCents, sign: '' | '+' | '−', key: string) => (
    <tr key={key} data-line={key}>
      <th scope="row">
        {sign ? <span aria-hidden="true">{sign} </span> : null}
        {label}
      </th>
      <td className="num">{money(line.purchasedCents)}</td>
      <td className="num">{money(line.grantedCents)}</td>
      <td className="num">{money(total(line))}</td>
    </tr>
  );

  const identity = report.data ? tieOut(report.data) : null;

  return (
    <section aria-labelledby="reports-title">
      <h2 id="reports-title">Reports</h2>
      <form className="panel filters" onSubmit={(event) => event.preventDefault()}>
        <div className="inline-field">
          <label htmlFor={ids.month}>Month (UTC)</label>
          <input id={ids.month} type="month" value={month} onChange={(event) => setMonth(event.target.value)} required />
        </div>
        <div className="inline-field">
          <label htmlFor={ids.currency}>Currency</label>
          <select id={ids.currency} value={currency} onChange={(event) => setCurrency(event.target.value)}>
            {SUPPORTED_CURRENCIES.map((code) => (
              <option key={code} value={code}>
                {code}
              </option>
            ))}
          </select>
        </div>
        <div className="inline-field">
          <label htmlFor={ids.customer}>Customer (optional)</label>
          <input id={ids.customer} type="search" value={customer} placeholder="External id" onChange={(event) => setCustomer(event.target.value)} />
        </div>
        <button type="button" onClick={downloadReport} disabled={!range || download.pending}>
          Download CSV
        </button>
      </form>
      {download.error ? (
        <p className="form-error" role="alert">
          {download.error}
        </p>
      ) : null}
      {!validMonth ? <p className="form-error">Choose a month.</p> : null}
      <QueryError query={report} what="report" />
      {report.isFetching && !report.data ? <p aria-live="polite">Loading the report…</p> : null}
      {report.data && range && identity ? (
        <section className="panel" aria-labelledby="report-title">
          <h3 id="report-title">
            Credits report, {formatMonth(range.from)}, {currency}
            {externalCustomerId ? `, customer ${externalCustomerId}` : ''}
          </h3>
          <p className="hint">
            From {range.from.toISOString().slice(0, 10)} 00:00 UTC to {range.to.toISOString().slice(0, 10)} 00:00 UTC. Amounts are the money value of
            credits.
          </p>
          <TableScroll label="Report lines">
            <table className="numbers report">
              <caption className="visually-hidden">Credits report</caption>
              <thead>
                <tr>
                  <th scope="col">Line</th>
                  <th scope="col" className="num">
                    Purchased
                  </th>
                  <th scope="col" className="num">
                    Granted
                  </th>
                  <th scope="col" className="num">
                    Total
                  </th>
                </tr>
              </thead>
              <tbody>
                {row('Opening balance', report.data.opening, '', 'opening')}
                {INFLOWS.map(([key, label]) => row(label, report.data[key], '+', key))}
                {OUTFLOWS.map(([key, label]) => row(label, report.data[key], '−', key))}
              </tbody>
              <tfoot>{row('Closing balance', report.data.closing, '', 'closing')}</tfoot>
            </table>
          </TableScroll>
          <p data-testid="identity" className={identity.ties ? 'ties' : 'form-error'}>
            {money(identity.total.opening)} opening + {money(identity.total.inflow)} in − {money(identity.total.outflow)} out ={' '}
            {money(identity.total.expected)}
            {identity.ties
              ? ', the closing balance: the report ties out.'
              : `, but the closing balance is ${money(identity.total.closing)}: the report does not tie out.`}
          </p>
          <p>Pending purchases at the end of the month (not in the balance until paid): {money(report.data.pendingPurchasesCents)}.</p>
        </section>
      ) : null}
    </section>
  );
}
