/**
 * A wallet's balance over time (`wallets.balanceHistory`): a uPlot chart of the balance with its
 * purchased and granted parts apart, and the same points in a table beside it (the chart is a
 * picture; the table is what screen readers and exact readers use). The chart plots cents, integers;
 * the table formats them exactly.
 */
import { useQuery } from '@tanstack/react-query';
import { useEffect, useId, useRef, useState } from 'react';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { queryKeys, type RouterOutputs, useClient, type Wallet } from '../api.js';
import { formatCreditNumber, formatMoney, formatTime } from '../format.js';
import { QueryError } from './query-error.js';
import { TableScroll } from './table-scroll.js';

type Point = RouterOutputs['wallets']['balanceHistory']['points'][number];

const DAY_MS = 86_400_000;
export const PERIODS = {
  days: { label: 'Last 30 days, daily', interval: 'day', backMs: 30 * DAY_MS, aheadMs: DAY_MS },
  weeks: { label: 'Last 26 weeks, weekly', interval: 'week', backMs: 26 * 7 * DAY_MS, aheadMs: 7 * DAY_MS },
  months: { label: 'Last 12 months, monthly', interval: 'month', backMs: 366 * DAY_MS, aheadMs: 31 * DAY_MS },
} as const;
type PeriodId = keyof typeof PERIODS;

const COLORS = { balance: '#1d4ed8', purchased: '#b45309', granted: '#047857' };

/** The request for a period ending with the current interval (its last point holds the balance to date). */
export function historyRange(period: PeriodId, now: Date): { from: Date; to: Date; interval: 'day' | 'week' | 'month' } {
  const { interval, backMs, aheadMs } = PERIODS[period];
  return { from: new Date(now.getTime() - backMs), to: new Date(now.getTime() + aheadMs), interval };
}

function BalanceChart({ points, currency, labelledBy }: { points: readonly Point[]; currency: string; labelledBy: string }) {
  const container = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const element = container.current;
    if (!element || points.length === 0) return;
    const data: uPlot.AlignedData = [
      points.map((p) => p.at.getTime() / 1000),
      points.map((p) => p.balanceCents),
      points.map((p) => p.purchasedCents),
      points.map((p) => p.grantedCents),
    ];
    const money = (_: uPlot, values: number[]) => values.map((cents) => formatMoney(Math.round(cents), currency));
    const chart = new uPlot(
      {
        width: Math.max(element.clientWidth, 280),
        height: 240,
        legend: { show: false },
        cursor: { show: false },
        scales: { x: { time: true } },
        axes: [{}, { values: money, size: 80 }],
        series: [
          {},
          { label: 'Balance', stroke: COLORS.balance, width: 2 },
          { label: 'Purchased', stroke: COLORS.purchased, width: 1.5, dash: [6, 4] },
          { label: 'Granted', stroke: COLORS.granted, width: 1.5, dash: [2, 3] },
        ],
      },
      data,
      element,
    );
    const observer = new ResizeObserver(() => chart.setSize({ width: Math.max(element.clientWidth, 280), height: 240 }));
    observer.observe(element);
    return () => {
      observer.disconnect();
      chart.destroy();
    };
  }, [points, currency]);
  return (
    <figure className="chart" aria-labelledby={labelledBy}>
      <div ref={container} role="img" aria-label="Balance over time, with its purchased and granted parts: the same points are in the table." />
      <figcaption>
        <span className="swatch" style={{ borderColor: COLORS.balance }} aria-hidden="true" /> Balance{' '}
        <span className="swatch swatch-dashed" style={{ borderColor: COLORS.purchased }} aria-hidden="true" /> Purchased{' '}
        <span className="swatch swatch-dotted" style={{ borderColor: COLORS.granted }} aria-hidden="true" /> Granted
      </figcaption>
    </figure>
  );
}

export function BalanceHistory({ wallet }: { wallet: Wallet }) {
  const client = useClient();
  const [period, setPeriod] = useState<PeriodId>('days');
  // The period is fixed when chosen, so refetches (live events) ask for the same points.
  const [now] = useState(() => new Date());
  const range = historyRange(period, now);
  const history = useQuery({
    queryKey: queryKeys.balanceHistory(wallet.id, period),
    queryFn: () => client.wallets.balanceHistory.query({ id: wallet.id, ...range }),
  });
  const headingId = useId();
  const selectId = useId();
  const points = history.data?.points ?? [];

  return (
    <section aria-labelledby={headingId} className="panel">
      <div className="toolbar">
        <h3 id={headingId}>Balance over time</h3>
        <div className="inline-field">
          <label htmlFor={selectId}>Period</label>
          <select id={selectId} value={period} onChange={(event) => setPeriod(event.target.value as PeriodId)}>
            {Object.entries(PERIODS).map(([id, p]) => (
              <option key={id} value={id}>
                {p.label}
              </option>
            ))}
          </select>
        </div>
      </div>
      <p className="hint">
        Settled balances at the end of each {PERIODS[period].interval} in the customer's time zone ({wallet.currency}); the last point is the balance
        to date.
      </p>
      <QueryError query={history} what="balance history" />
      {history.isPending ? <p aria-live="polite">Loading the balance history…</p> : null}
      {points.length > 0 ? (
        <div className="history">
          <BalanceChart points={points} currency={wallet.currency} labelledBy={headingId} />
          <TableScroll label="Balance history table" className="history-table">
            <table className="numbers">
              <caption>Balance history of {wallet.name || wallet.code}</caption>
              <thead>
                <tr>
                  <th scope="col">Balance at</th>
                  <th scope="col" className="num">
                    Purchased
                  </th>
                  <th scope="col" className="num">
                    Granted
                  </th>
                  <th scope="col" className="num">
                    Balance
                  </th>
                  <th scope="col" className="num">
                    Credits
                  </th>
                </tr>
              </thead>
              <tbody>
                {[...points].reverse().map((point) => (
                  <tr key={point.at.toISOString()}>
                    <th scope="row">
                      <time dateTime={point.at.toISOString()}>{point.at > now ? 'To date' : formatTime(point.at)}</time>
                    </th>
                    <td className="num">{formatMoney(point.purchasedCents, wallet.currency)}</td>
                    <td className="num">{formatMoney(point.grantedCents, wallet.currency)}</td>
                    <td className="num">{formatMoney(point.balanceCents, wallet.currency)}</td>
                    <td className="num">{formatCreditNumber(point.creditsBalance)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </TableScroll>
        </div>
      ) : history.isSuccess ? (
        <p>No points in this period.</p>
      ) : null}
    </section>
  );
}
