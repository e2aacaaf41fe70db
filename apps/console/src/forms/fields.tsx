/**
 * Form building blocks: every control has a label, a hint and its error are tied to it with
 * aria-describedby, an invalid control says so (aria-invalid), and a failed submit moves focus to
 * the first field in error (or the form's message) so keyboard and screen-reader users land on it.
 */
import { type ReactNode, useEffect, useId, useRef, useState } from 'react';
import { describeError, type FormErrors, NO_ERRORS } from '../errors.js';

interface FieldProps {
  name: string;
  label: string;
  hint?: ReactNode;
  error?: string | undefined;
}

function describedBy(hintId: string | null, errorId: string | null): string | undefined {
  return [hintId, errorId].filter(Boolean).join(' ') || undefined;
}

function FieldMessages({ hint, hintId, error, errorId }: { hint?: ReactNode; hintId: string; error?: string | undefined; errorId: string }) {
  return (
    <>
      {hint ? (
        <p className="hint" id={hintId}>
          {hint}
        </p>
      ) : null}
      {error ? (
        <p className="field-error" id={errorId}>
          {error}
        </p>
      ) : null}
    </>
  );
}

export function TextField({
  name,
  label,
  hint,
  error,
  value,
  onChange,
  type = 'text',
  inputMode,
  prefix,
  suffix,
  required,
  autoComplete = 'off',
}: FieldProps & {
  value: string;
  onChange(value: string): void;
  type?: 'text' | 'date' | 'password' | 'search' | 'number';
  inputMode?: 'decimal' | 'numeric' | 'text';
  prefix?: string;
  suffix?: string;
  required?: boolean;
  autoComplete?: string;
}) {
  const id = useId();
  const hintId = `${id}-hint`;
  const errorId = `${id}-error`;
  return (
    <div className={`field${error ? ' field-invalid' : ''}`}>
      <label htmlFor={id}>
        {label}
        {required ? <span aria-hidden="true"> *</span> : null}
      </label>
      <div className="input-row">
        {prefix ? (
          <span className="affix" aria-hidden="true">
            {prefix}
          </span>
        ) : null}
        <input
          id={id}
          name={name}
          type={type}
          inputMode={inputMode}
          value={value}
          required={required}
          autoComplete={autoComplete}
          aria-invalid={error ? true : undefined}
          aria-describedby={describedBy(hint ? hintId : null, error ? errorId : null)}
          onChange={(event) => onChange(event.target.value)}
        />
        {suffix ? (
          <span className="affix" aria-hidden="true">
            {suffix}
          </span>
        ) : null}
      </div>
      <FieldMessages hint={hint} hintId={hintId} error={error} errorId={errorId} />
    </div>
  );
}

export function SelectField({
  name,
  label,
  hint,
  error,
  value,
  onChange,
  options,
}: FieldProps & { value: string; onChange(value: string): void; options: readonly { value: string; label: string }[] }) {
  const id = useId();
  const hintId = `${id}-hint`;
  const errorId = `${id}-error`;
  return (
    <div className={`field${error ? ' field-invalid' : ''}`}>
      <label htmlFor={id}>{label}</label>
      <select
        id={id}
        name={name}
        value={value}
        aria-invalid={error ? true : undefined}
        aria-describedby={describedBy(hint ? hintId : null, error ? errorId : null)}
        onChange={(event) => onChange(event.target.value)}
      >
        {options.map((option) => (
          <option key={option.value} value={option.value}>
            {option.label}
          </option>
        ))}
      </select>
      <FieldMessages hint={hint} hintId={hintId} error={error} errorId={errorId} />
    </div>
  );
}

export function CheckboxField({ name, label, hint, error, checked, onChange }: FieldProps & { checked: boolean; onChange(checked: boolean): void }) {
  const id = useId();
  const hintId = `${id}-hint`;
  const errorId = `${id}-error`;
  return (
    <div className={`field field-checkbox${error ? ' field-invalid' : ''}`}>
      <div className="checkbox-row">
        <input
          id={id}
          name={name}
          type="checkbox"
          checked={checked}
          aria-invalid={error ? true : undefined}
          aria-describedby={describedBy(hint ? hintId : null, error ? errorId : null)}
          onChange={(event) => onChange(event.target.checked)}
        />
        <label htmlFor={id}>{label}</label>
      </div>
      <FieldMessages hint={hint} hintId={hintId} error={error} errorId={errorId} />
    </div>
  );
}

/** A group of checkboxes (a fieldset with its legend), one value per box. */
export function CheckboxGroup({
  name,
  label,
  hint,
  error,
  options,
  selected,
  onChange,
}: FieldProps & { options: readonly { value: string; label: string }[]; selected: readonly string[]; onChange(selected: string[]): void }) {
  const id = useId();
  const hintId = `${id}-hint`;
  const errorId = `${id}-error`;
  const toggle = (value: string, on: boolean) => onChange(on ? [...selected, value] : selected.filter((v) => v !== value));
  return (
    <fieldset
      className={`field checkbox-group${error ? ' field-invalid' : ''}`}
      aria-invalid={error ? true : undefined}
      aria-describedby={describedBy(hint ? hintId : null, error ? errorId : null)}
    >
      <legend>{label}</legend>
      {options.map((option) => (
        <label key={option.value} className="checkbox-option">
          <input
            type="checkbox"
            name={name}
            value={option.value}
            checked={selected.includes(option.value)}
            onChange={(e) => toggle(option.value, e.target.checked)}
          />
          {option.label}
        </label>
      ))}
      <FieldMessages hint={hint} hintId={hintId} error={error} errorId={errorId} />
    </fieldset>
  );
}

/** The form-level message (errors that concern no field), announced when it appears. */
export function FormMessage({ message }: { message: string | null }) {
  return message ? (
    <p className="form-error" role="alert" tabIndex={-1}>
      {message}
    </p>
  ) : null;
}

/**
 * Submitting a form: pending state, errors placed on fields, focus moved to the first problem.
 * The values live in the form's own state and are never reset here.
 */
export function useSubmit(options: { fields: Readonly<Record<string, string>>; currency?: string | null }) {
  const [pending, setPending] = useState(false);
  const [errors, setErrors] = useState<FormErrors>(NO_ERRORS);
  // Bumped with each failed submit; the effect runs after React has rendered the new errors.
  const [failures, setFailures] = useState(0);
  const formRef = useRef<HTMLFormElement>(null);

  useEffect(() => {
    if (failures === 0) return;
    const target = formRef.current?.querySelector<HTMLElement>('[aria-invalid="true"], .form-error');
    const focusable = target?.matches('fieldset') ? target.querySelector<HTMLElement>('input') : target;
    focusable?.focus();
  }, [failures]);

  const fail = (next: FormErrors) => {
    setErrors(next);
    setFailures((n) => n + 1);
  };

  async function run(action: () => Promise<unknown>, localErrors: Record<string, string> = {}): Promise<boolean> {
    if (Object.keys(localErrors).length > 0) {
      fail({ fields: localErrors, form: null });
      return false;
    }
    setPending(true);
    setErrors(NO_ERRORS);
    try {
      await action();
      return true;
    } catch (error) {
      fail(describeError(error, options));
      return false;
    } finally {
      setPending(false);
    }
  }

  return { pending, errors, run, formRef };
}
