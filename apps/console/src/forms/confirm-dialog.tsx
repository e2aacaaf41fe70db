/**
 * A confirmation in a modal dialog (`<dialog>` opened with showModal, role alertdialog): the page
 * behind is inert, focus starts on the safe choice (Cancel), Escape cancels, and a refusal from the
 * server is shown inside the dialog. The caller gives focus back to what opened it on close.
 */
import { type FormEvent, type ReactNode, useEffect, useId, useRef } from 'react';
import { FormMessage, useSubmit } from './fields.js';

export function ConfirmDialog({
  title,
  confirmLabel,
  children,
  currency,
  onConfirm,
  onCancel,
  onDone,
}: {
  title: string;
  confirmLabel: string;
  children: ReactNode;
  currency?: string;
  onConfirm(): Promise<unknown>;
  onCancel(): void;
  onDone(): void;
}) {
  const dialogRef = useRef<HTMLDialogElement>(null);
  const cancelRef = useRef<HTMLButtonElement>(null);
  const { pending, errors, run, formRef } = useSubmit({ fields: {}, currency: currency ?? null });
  const id = useId();

  useEffect(() => {
    const dialog = dialogRef.current;
    if (dialog && !dialog.open) dialog.showModal();
    // showModal focuses the first control (the destructive one): the safe choice takes focus instead.
    cancelRef.current?.focus();
    return () => dialog?.close();
  }, []);

  // The dialog closes before the caller moves focus: while it is open the page behind is inert.
  const cancel = () => {
    dialogRef.current?.close();
    onCancel();
  };

  async function submit(event: FormEvent) {
    event.preventDefault();
    if (await run(onConfirm)) {
      dialogRef.current?.close();
      onDone();
    }
  }

  return (
    <dialog
      ref={dialogRef}
      className="dialog"
      role="alertdialog"
      aria-modal="true"
      aria-labelledby={`${id}-title`}
      aria-describedby={`${id}-description`}
      onCancel={(event) => {
        event.preventDefault();
        cancel();
      }}
    >
      <h2 id={`${id}-title`}>{title}</h2>
      <div id={`${id}-description`}>{children}</div>
      <form ref={formRef} onSubmit={submit} noValidate>
        <FormMessage message={errors.form} />
        <div className="actions">
          <button type="submit" className="danger" disabled={pending}>
            {confirmLabel}
          </button>
          <button ref={cancelRef} type="button" onClick={cancel}>
            Cancel
          </button>
        </div>
      </form>
    </dialog>
  );
}
