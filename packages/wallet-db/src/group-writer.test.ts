import { describe, expect, it } from 'vitest';
import { mergeDocuments } from './group-writer.js';

describe('mergeDocuments', () => {
  it('concatenates every array in order, whatever its key, and keeps a single value set by one document', () => {
    const merged = mergeDocuments([
      { entries: [1, 2], events: ['a'], later: ['x'], snapshot: null, idempotency: null },
      { entries: [3], events: [], later: ['y', 'z'], snapshot: null, idempotency: null },
      { entries: [], events: ['b'], later: [], snapshot: null, idempotency: { key: 'k' } },
    ]);
    expect(merged).toEqual({ entries: [1, 2, 3], events: ['a', 'b'], later: ['x', 'y', 'z'], snapshot: null, idempotency: { key: 'k' } });
  });

  it('refuses a single-valued key set by two documents', () => {
    expect(() => mergeDocuments([{ invoice: { id: '1' } }, { invoice: { id: '2' } }])).toThrow(/invoice is set by two/);
  });
});
