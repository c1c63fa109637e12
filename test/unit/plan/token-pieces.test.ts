/**
 * Issue 12 item 8: token counting stays linear. The BPE is quadratic in the length of one pre-tokenized piece, so no
 * piece longer than MAX_PIECE ever reaches it; the work is bounded by what is passed, not by a clock.
 */
import { describe, expect, it } from 'vitest';
import { countTokens } from 'gpt-tokenizer/encoding/o200k_base';
import { countInPieces, loadCount, MAX_PIECE } from '../../../src/plan/token-counter.js';

/** Random lowercase letters: no spaces, and no repeats the tokenizer's cache could hide. */
function letters(n: number, seed = 7): string {
  const abc = 'abcdefghijklmnopqrstuvwxyz';
  const out: string[] = [];
  let x = seed;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) & 0x7fffffff;
    out.push(abc[x % 26]!);
  }
  return out.join('');
}

describe('countInPieces', () => {
  it('never hands the BPE a 1 MB run of letters (or spaces) in longer parts than MAX_PIECE, and covers every character', () => {
    const passed: string[] = [];
    const spy = (t: string) => {
      passed.push(t);
      return t.length;
    };
    const text = `intro ${letters(1_000_000)} middle ${' '.repeat(300_000)} end`;
    const total = countInPieces(text, spy);
    expect(Math.max(...passed.map((t) => t.length))).toBeLessThanOrEqual(MAX_PIECE);
    expect(passed.join('')).toBe(text);
    expect(total).toBe(text.length);
    // Linear: about one call per MAX_PIECE characters.
    expect(passed.length).toBeLessThan(text.length / MAX_PIECE + 10);
  });

  it('counts ordinary text exactly (in one piece)', async () => {
    const count = await loadCount('o200k_base');
    const text = 'The quick brown fox jumps over the lazy dog; https://example.com/a/b?c=d. '.repeat(500);
    expect(count(text)).toBe(countTokens(text));
  });

  it('keeps an emoji whole at a cut', () => {
    const text = `${'a'.repeat(MAX_PIECE - 1)}😀${'b'.repeat(MAX_PIECE)}`;
    const passed: string[] = [];
    countInPieces(text, (t) => (passed.push(t), 0));
    expect(passed.join('')).toBe(text);
    expect(passed.some((t) => /[\ud800-\udbff]$|^[\udc00-\udfff]/.test(t))).toBe(false);
  });

  it('stays within 1% of the exact count on a long run of letters', async () => {
    const count = await loadCount('o200k_base');
    const text = letters(8_000);
    const exact = countTokens(text);
    expect(Math.abs(count(text) - exact) / exact).toBeLessThan(0.01);
  });
});
