/** Sign-in with an organization's API key, checked against the API before it is kept for the session. */
import { type FormEvent, useState } from 'react';
import { clientFor } from '../api.js';
import { FormMessage, TextField, useSubmit } from '../forms/fields.js';

const FIELDS = { apiKey: 'API key' } as const;

export function SignIn({ onSignedIn }: { onSignedIn(apiKey: string): void }) {
  const [apiKey, setApiKey] = useState('');
  const { pending, errors, run, formRef } = useSubmit({ fields: FIELDS });

  async function submit(event: FormEvent) {
    event.preventDefault();
    const key = apiKey.trim();
    const local: Record<string, string> = key ? {} : { apiKey: 'Enter the API key of your organization.' };
    const ok = await run(() => clientFor(key).customers.list.query({ limit: 1 }), local);
    if (ok) onSignedIn(key);
  }

  return (
    <main className="sign-in">
      <h1>Wallets console</h1>
      <section className="panel" aria-labelledby="sign-in-title">
        <h2 id="sign-in-title">Sign in</h2>
        <form ref={formRef} onSubmit={submit} noValidate>
          <FormMessage message={errors.form} />
          <TextField
            name="apiKey"
            label="API key"
            type="password"
            required
            hint="Your organization's key (wk_…). It is kept for this browser session only."
            value={apiKey}
            onChange={setApiKey}
            error={errors.fields.apiKey}
          />
          <div className="actions">
            <button type="submit" className="primary" disabled={pending}>
              Sign in
            </button>
          </div>
        </form>
      </section>
    </main>
  );
}
