import { LineCounter, parseDocument } from 'yaml';
import { describe, expect, it } from 'vitest';
import { locate, pathToString, pointerToPath, suggest, type DocPath } from '../../../src/config/locate.js';

const SOURCE = [
  'name: demo', //                               line 1
  'grid:', //                                    line 2
  '  model: [gpt-4o-mini, gpt-4.1-mini]', //     line 3
  '  temperature:', //                           line 4
  '    - 0', //                                  line 5
  '    - 1.5', //                                line 6
  'params:', //                                  line 7
  '  max_tokens: 60', //                         line 8
  '  "a/b~c": yes', //                           line 9
  '',
].join('\n');

function at(path: DocPath, opts?: { atKey?: boolean }): { line: number; col: number } {
  const lines = new LineCounter();
  const doc = parseDocument(SOURCE, { lineCounter: lines });
  return locate(doc, lines, path, opts);
}

describe('pointerToPath', () => {
  it('splits a JSON Pointer into keys and array indexes', () => {
    expect(pointerToPath('/grid/temperature/1')).toEqual(['grid', 'temperature', 1]);
    expect(pointerToPath('/params/max_tokens')).toEqual(['params', 'max_tokens']);
  });

  it('is the root for the empty pointer', () => {
    expect(pointerToPath('')).toEqual([]);
  });

  it('unescapes ~1 to / and ~0 to ~, in that order (RFC 6901)', () => {
    expect(pointerToPath('/params/a~1b~0c')).toEqual(['params', 'a/b~c']);
    // ~01 is an escaped "~" followed by "1", not "/".
    expect(pointerToPath('/x~01')).toEqual(['x~1']);
  });
});

describe('pathToString', () => {
  it('joins with dots, and names the root', () => {
    expect(pathToString(['grid', 'temperature', 1])).toBe('grid.temperature.1');
    expect(pathToString([])).toBe('(root)');
  });
});

describe('locate', () => {
  it('points at the value of a key', () => {
    expect(at(['name'])).toEqual({ line: 1, col: 7 });
    expect(at(['params', 'max_tokens'])).toEqual({ line: 8, col: 15 });
  });

  it('points at an item of a list, flow or block', () => {
    expect(at(['grid', 'model', 1])).toEqual({ line: 3, col: 24 });
    expect(at(['grid', 'temperature', 1])).toEqual({ line: 6, col: 7 });
  });

  it('points at the key itself when asked (a key that should not be there)', () => {
    expect(at(['params', 'max_tokens'], { atKey: true })).toEqual({ line: 8, col: 3 });
    expect(at(['grid'], { atKey: true })).toEqual({ line: 2, col: 1 });
    expect(at(pointerToPath('/params/a~1b~0c'), { atKey: true })).toEqual({ line: 9, col: 3 });
  });

  it('reports a missing key at the nearest parent that exists', () => {
    expect(at(['params', 'seed'])).toEqual(at(['params']));
    expect(at(['params'])).toEqual({ line: 8, col: 3 });
    expect(at(['grid', 'temperature', 7])).toEqual({ line: 5, col: 5 });
    expect(at(['params', 'seed'], { atKey: true })).toEqual(at(['params']));
  });

  it('falls back to the document start for the root or an empty document', () => {
    expect(at([])).toEqual({ line: 1, col: 1 });
    const lines = new LineCounter();
    expect(locate(parseDocument('', { lineCounter: lines }), lines, ['name'])).toEqual({ line: 1, col: 1 });
  });
});

describe('suggest', () => {
  it('offers the closest known word within a few edits, ignoring case', () => {
    expect(suggest('temprature', ['model', 'temperature', 'top_p'])).toBe('temperature');
    expect(suggest('MAX_TOKEN', ['max_tokens', 'n'])).toBe('max_tokens');
  });

  it('offers nothing when every word is too far off', () => {
    expect(suggest('colour', ['model', 'temperature'])).toBeUndefined();
  });
});
