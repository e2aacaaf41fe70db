/** A wide table's scroll box: a labelled region that takes keyboard focus, so it scrolls with the arrow keys too. */
import type { ReactNode } from 'react';

export function TableScroll({ label, className, children }: { label: string; className?: string; children: ReactNode }) {
  return (
    // biome-ignore lint/a11y/noNoninteractiveTabindex: a scrollable region must be reachable by keyboard (WCAG 2.1.1)
    <section className={`table-scroll${className ? ` ${className}` : ''}`} aria-label={label} tabIndex={0}>
      {children}
    </section>
  );
}
