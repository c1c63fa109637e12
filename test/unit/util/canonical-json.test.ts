import { describe, expect, it } from 'vitest';
import { canonicalJson } from '../../../src/util/canonical-json.js';

describe('canonicalJson', () => {
  it('sorts object keys at every depth, keeping array order', () => {
    expect(canonicalJson({ b: 1, a: [{ d: 1, c: 2 }, 3] })).toBe('{"a":[{"c":2,"d":1},3],"b":1}');
    expect(canonicalJson({ model: 'm', messages: [{ role: 'user', content: 'x' }] })).toBe(canonicalJson({ messages: [{ content: 'x', role: 'user' }], model: 'm' }));
  });

  it('drops undefined values like JSON.stringify, and is plain JSON for everything else', () => {
    expect(canonicalJson({ a: undefined, b: null })).toBe('{"b":null}');
    expect(canonicalJson(['x', 1.5, true, null])).toBe('["x",1.5,true,null]');
  });

  // Cell ids, run hashes and cache keys are built on this text: its exact form must not change between versions.
  it('puts integer-like keys first, in numeric order (as JavaScript objects keep them)', () => {
    expect(canonicalJson({ b: 1, 10: 'x', 9: 'y', a: 2 })).toBe('{"9":"y","10":"x","a":2,"b":1}');
  });
});
