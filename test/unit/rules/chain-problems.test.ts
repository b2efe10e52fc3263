// The lists inside denial messages (src/rules/chain-problems.ts).
import { describe, it, expect } from 'vitest';
import { listNames } from '../../../src/rules/chain-problems.ts';

describe('listNames', () => {
  it('joins up to the limit and counts the rest', () => {
    expect(listNames([])).toBe('');
    expect(listNames(['a', 'b'])).toBe('a, b');
    expect(listNames(['a', 'b', 'c'], 2)).toBe('a, b and 1 more');
    expect(listNames(Array.from({ length: 10 }, (_, i) => `${i}`))).toBe('0, 1, 2, 3, 4, 5, 6, 7, 8, 9');
  });
});
