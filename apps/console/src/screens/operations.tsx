/**
 * Operations: the organization's API keys (create with the secret shown once, list with last use,
 * revoke in a confirmation dialog), its webhook endpoints with their deliveries and every attempt
 * (status, duration, next retry), and a live log of the events this session received.
 */
import { useQuery, useQueryClient } from '@tanstack/react-query';
import { type FormEvent, useRef, useState } from 'react';
import { queryKeys, type RouterOutputs, storedApiKey, useClient } from '../api.js';
import { formatTime } from '../format.js';
import { ConfirmDialog } from '../forms/confirm-dialog.js';
import { FormMessage, TextField, useSubmit } from '../forms/fields.js';
import { EVENT_LOG_SIZE, useEventLog } from '../live.js';
import { QueryError } from './query-error.js';
import { TableScroll } from './table-scroll.js';

type ApiKey = RouterOutputs['apiKeys']['list']['items'][number];
type Endpoint = RouterOutputs['webhooks']['list'][number];
type Delivery = RouterOutputs['webhooks']['deliveries']['items'][number];

export function Operations() {
  return (
    <section aria-labelledby="operations-title">
      <h2 id="operations-title">Operations</h2>
      <ApiKeys />
      <WebhookEndpoints />
      <EventLog />
    </section>
  );
}

/** A secret shown once, right after it was made, with a way to copy it. */
function SecretOnce({ label, secret, onDone }: { label: string; secret: string; onDone(): void }) {
  const [copied, setCopied] = useState(false);
  return (
    <div className="panel secret" role="status">
      <p>
        <strong>{label}</strong> Copy it now: it is shown only once.
      </p>
      <p>
        <code data-testid="secret">{secret}</code>
      </p>
      <div className="actions">
        <button
          type="button"
          onClick={() =>
            navigator.clipboard?.writeText(secret).then(
              () => setCopied(true),
              () => setCopied(false),
            )
          }
        >
          {copied ? 'Copied' : 'Copy secret'}
        </button>
        <button type="button" onClick={onDone}>
          Done
        </button>
      </div>
    </div>
  );
}

function ApiKeys() {
  const client = useClient();
  const queryClient = useQueryClient();
  const keys = useQuery({ queryKey: queryKeys.apiKeys, queryFn: () => client.apiKeys.list.query() });
  const [name, setName] = useState('');
  const [created, setCreated] = useState<{ name: string; secret: string } | null>(null);
  const [revoking, setRevoking] = useState<ApiKey | null>(null);
  const [status, setStatus] = useState('');
  const { pending, errors, run, formRef } = useSubmit({ fields: { name: 'Key name' } });
  const revokeButtons = useRef<Record<string, HTMLButtonElement | null>>({});
  const refresh = () => queryClient.invalidateQueries({ queryKey: queryKeys.apiKeys });
  const ownKey = storedApiKey();

  async function create(event: FormEvent) {
    event.preventDefault();
    await run(async () => {
      const result = await client.apiKeys.create.mutate({ name: name.trim() || null });
      setCreated({ name: result.apiKey.name ?? result.apiKey.prefix, secret: result.secret });
      setName('');
      await refresh();
    });
  }

  const label = (key: ApiKey) => key.name || key.prefix;

  return (
    <section className="panel" aria-labelledby="api-keys-title">
      <h3 id="api-keys-title">API keys</h3>
      <form ref={formRef} onSubmit={create} noValidate className="inline-form">
        <FormMessage message={errors.form} />
        <TextField
          name="name"
          label="Key name"
          hint="Optional, such as the app that uses it."
          value={name}
          onChange={setName}
          error={errors.fields.name}
        />
        <div className="actions">
          <button type="submit" className="primary" disabled={pending}>
            Create API key
          </button>
        </div>
      </form>
      {created ? <SecretOnce label={`API key ${created.name} created.`} secret={created.secret} onDone={() => setCreated(null)} /> : null}
      <p role="status" className="status">
        {status}
      </p>
      <QueryError query={keys} what="API keys" />
      {keys.data ? (
        <TableScroll label="API keys table">
          <table>
            <caption>API keys of this organization</caption>
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Prefix</th>
                <th scope="col">Created</th>
                <th scope="col">Last used</th>
                <th scope="col">Status</th>
                <th scope="col">
                  <span className="visually-hidden">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {keys.data.items.map((key) => (
                <tr key={key.id} data-key-id={key.id}>
                  <th scope="row">{key.name ?? <span className="muted">(no name)</span>}</th>
                  <td>
                    <code className="nowrap">{key.prefix}…</code>
                    {ownKey?.startsWith(key.prefix) ? <span className="muted"> (this console)</span> : null}
                  </td>
                  <td>{formatTime(key.createdAt)}</td>
                  <td>{key.lastUsedAt ? formatTime(key.lastUsedAt) : 'Never'}</td>
                  <td>
                    {key.revokedAt ? (
                      <span className="pill pill-failed">Revoked {formatTime(key.revokedAt)}</span>
                    ) : (
                      <span className="pill pill-settled">Active</span>
                    )}
                  </td>
                  <td>
                    {key.revokedAt ? null : (
                      <button
                        type="button"
                        ref={(el) => {
                          revokeButtons.current[key.id] = el;
                        }}
                        onClick={() => setRevoking(key)}
                      >
                        Revoke <span className="visually-hidden">key {label(key)}</span>
                      </button>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </TableScroll>
      ) : null}
      {revoking ? (
        <ConfirmDialog
          title="Revoke API key"
          confirmLabel="Revoke key"
          onConfirm={async () => {
            await client.apiKeys.revoke.mutate({ id: revoking.id });
            await refresh();
          }}
          onCancel={() => {
            const opener = revokeButtons.current[revoking.id];
            setRevoking(null);
            requestAnimationFrame(() => opener?.focus());
          }}
          onDone={() => {
            setStatus(`API key ${label(revoking)} revoked.`);
            setRevoking(null);
          }}
        >
          <p>
            Calls made with key {label(revoking)} (<code>{revoking.prefix}…</code>) are refused within seconds, by every server. This cannot be
            undone: deploy a new key first.
          </p>
          {ownKey?.startsWith(revoking.prefix) ? <p className="danger-text">This console is signed in with this key: it stops working too.</p> : null}
        </ConfirmDialog>
      ) : null}
    </section>
  );
}

function WebhookEndpoints() {
  const client = useClient();
  const queryClient = useQueryClient();
  const endpoints = useQuery({ queryKey: queryKeys.webhookEndpoints, queryFn: () => client.webhooks.list.query() });
  const [url, setUrl] = useState('');
  const [created, setCreated] = useState<{ url: string; secret: string } | null>(null);
  const { pending, errors, run, formRef } = useSubmit({ fields: { url: 'Endpoint URL' } });

  async function create(event: FormEvent) {
    event.preventDefault();
    const local: Record<string, string> = url.trim() ? {} : { url: 'Enter the URL that receives the events.' };
    await run(async () => {
      const endpoint = await client.webhooks.createEndpoint.mutate({ url: url.trim() });
      setCreated({ url: endpoint.url, secret: endpoint.secret });
      setUrl('');
      await queryClient.invalidateQueries({ queryKey: queryKeys.webhookEndpoints });
    }, local);
  }

  return (
    <section className="panel" aria-labelledby="webhooks-title">
      <h3 id="webhooks-title">Webhook endpoints</h3>
      <form ref={formRef} onSubmit={create} noValidate className="inline-form">
        <FormMessage message={errors.form} />
        <TextField
          name="url"
          label="Endpoint URL"
          hint="Every event is sent there, signed with the endpoint's secret (Standard Webhooks)."
          value={url}
          onChange={setUrl}
          error={errors.fields.url}
        />
        <div className="actions">
          <button type="submit" className="primary" disabled={pending}>
            Add endpoint
          </button>
        </div>
      </form>
      {created ? (
        <SecretOnce label={`Endpoint ${created.url} added; its signing secret:`} secret={created.secret} onDone={() => setCreated(null)} />
      ) : null}
      <QueryError query={endpoints} what="webhook endpoints" />
      {endpoints.data?.length === 0 ? <p>No endpoints yet.</p> : null}
      <ul className="endpoint-list">
        {endpoints.data?.map((endpoint) => (
          <li key={endpoint.id}>
            <EndpointCard endpoint={endpoint} />
          </li>
        ))}
      </ul>
    </section>
  );
}

const DELIVERY_STATUS: Record<Delivery['status'], { label: string; pill: string }> = {
  pending: { label: 'Retrying', pill: 'pending' },
  delivered: { label: 'Delivered', pill: 'settled' },
  failed: { label: 'Failed', pill: 'failed' },
  cancelled: { label: 'Cancelled', pill: 'neutral' },
};

function EndpointCard({ endpoint }: { endpoint: Endpoint }) {
  const client = useClient();
  const [open, setOpen] = useState(false);
  const deliveries = useQuery({
    queryKey: queryKeys.webhookDeliveries(endpoint.id),
    queryFn: () => client.webhooks.deliveries.query({ endpointId: endpoint.id, limit: 50 }),
    enabled: open,
  });
  const titleId = `endpoint-${endpoint.id}`;
  return (
    <article className="endpoint" aria-labelledby={titleId}>
      <header>
        <h4 id={titleId}>{endpoint.url}</h4>
        <span className="muted">added {formatTime(endpoint.createdAt)}</span>
      </header>
      <div className="actions">
        <button type="button" aria-expanded={open} onClick={() => setOpen((o) => !o)}>
          {open ? 'Hide deliveries' : 'Show deliveries'}
        </button>
        {open ? (
          <button type="button" onClick={() => deliveries.refetch()} disabled={deliveries.isFetching}>
            Refresh deliveries
          </button>
        ) : null}
      </div>
      {open ? (
        <>
          <QueryError query={deliveries} what="deliveries" />
          {deliveries.isPending ? <p aria-live="polite">Loading deliveries…</p> : null}
          {deliveries.data?.items.length === 0 ? <p>No deliveries yet.</p> : null}
          {deliveries.data && deliveries.data.items.length > 0 ? (
            <TableScroll label={`Deliveries to ${endpoint.url}`}>
              <table className="numbers">
                <caption>Deliveries to {endpoint.url}</caption>
                <thead>
                  <tr>
                    <th scope="col">Event</th>
                    <th scope="col">Status</th>
                    <th scope="col" className="num">
                      Attempts
                    </th>
                    <th scope="col">Last attempt</th>
                    <th scope="col">Next retry</th>
                    <th scope="col">Attempt log</th>
                  </tr>
                </thead>
                <tbody>
                  {deliveries.data.items.map((delivery) => (
                    <tr key={delivery.id} data-delivery-id={delivery.id}>
                      <td>
                        {delivery.eventType}
                        <br />
                        <code className="muted">{delivery.eventId}</code>
                      </td>
                      <td>
                        <span className={`pill pill-${DELIVERY_STATUS[delivery.status].pill}`}>{DELIVERY_STATUS[delivery.status].label}</span>
                      </td>
                      <td className="num">{delivery.attemptCount}</td>
                      <td>{delivery.lastAttemptAt ? formatTime(delivery.lastAttemptAt) : 'Not yet'}</td>
                      <td>{delivery.nextAttemptAt ? formatTime(delivery.nextAttemptAt) : '—'}</td>
                      <td>
                        {delivery.attempts.length > 0 ? (
                          <ol className="attempts">
                            {delivery.attempts.map((attempt) => (
                              <li key={attempt.attemptNumber}>
                                {formatTime(attempt.attemptedAt)}: {attempt.error ?? `HTTP ${attempt.statusCode}`}, {attempt.durationMs} ms
                              </li>
                            ))}
                          </ol>
                        ) : (
                          '—'
                        )}
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </TableScroll>
          ) : null}
        </>
      ) : null}
    </article>
  );
}

/** What an event concerns, in a few words. */
function eventSubject(type: string, data: Record<string, unknown>): string {
  const parts: string[] = [];
  if (typeof data.externalCustomerId === 'string') parts.push(`customer ${data.externalCustomerId}`);
  if (typeof data.walletId === 'string') parts.push(`wallet ${data.walletId}`);
  else if (typeof data.id === 'string') parts.push(`${type.split('.')[0]?.replace('_', ' ')} ${data.id}`);
  return parts.join(', ') || '—';
}

function EventLog() {
  const events = useEventLog();
  return (
    <section className="panel" aria-labelledby="event-log-title">
      <h3 id="event-log-title">Live event log</h3>
      <p className="hint">Events of this organization since this browser session signed in, newest first (the last {EVENT_LOG_SIZE} at most).</p>
      {events.length === 0 ? (
        <p>No events received yet.</p>
      ) : (
        <TableScroll label="Live event log table">
          <table>
            <caption className="visually-hidden">Live event log</caption>
            <thead>
              <tr>
                <th scope="col">Time</th>
                <th scope="col">Event</th>
                <th scope="col">Concerns</th>
                <th scope="col">Event id</th>
              </tr>
            </thead>
            <tbody>
              {events.map((event) => (
                <tr key={event.id}>
                  <td>{event.createdAt ? formatTime(event.createdAt) : '—'}</td>
                  <td>{event.type}</td>
                  <td>{eventSubject(event.type, event.data)}</td>
                  <td>
                    <code>{event.id}</code>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </TableScroll>
      )}
    </section>
  );
}
