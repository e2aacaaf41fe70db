/** A failed load, in words, with a way to try again. */
import { describeError } from '../errors.js';

export function QueryError({ query, what }: { query: { error: unknown; refetch(): unknown }; what: string }) {
  if (!query.error) return null;
  const { form } = describeError(query.error, { fields: {} });
  return (
    <div className="form-error" role="alert">
      <p>
        Could not load the {what}. {form}
      </p>
      <button type="button" onClick={() => query.refetch()}>
        Try again
      </button>
    </div>
  );
}
