import { describe, expect, it } from 'vitest';
import { pointerTokens } from '../../../src/util/json-pointer.js';

describe('pointerTokens', () => {
  it('splits a pointer into its reference tokens; "" is the whole document, "/" the empty key', () => {
    expect(pointerTokens('')).toEqual([]);
    expect(pointerTokens('/')).toEqual(['']);
    expect(pointerTokens('/tool_calls/0/arguments')).toEqual(['tool_calls', '0', 'arguments']);
  });

  it('unescapes ~1 then ~0 (RFC 6901), so ~01 is "~1"', () => {
    expect(pointerTokens('/a~1b/c~0d/~01')).toEqual(['a/b', 'c~d', '~1']);
  });
});
