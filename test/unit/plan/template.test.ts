import { describe, expect, it } from 'vitest';
import { compileTemplate, missingVariables, renderMessages } from '../../../src/contracts/template.js';

describe('compileTemplate', () => {
  it('lists every variable once, including dotted paths and spaced braces', () => {
    const t = compileTemplate([
      { role: 'system', content: 'Language: {{ meta.lang }}.' },
      { role: 'user', content: '{{subject}} / {{subject}} / {{body}}' },
    ]);
    expect(t.variables).toEqual(['meta.lang', 'subject', 'body']);
  });
});

describe('renderMessages', () => {
  it('substitutes strings as they are, with no HTML escaping', () => {
    const t = compileTemplate([{ role: 'user', content: 'Subject: {{subject}}\n\n{{body}}' }]);
    expect(renderMessages(t, { subject: 'A & B <c> "d"', body: 'línea 1\nlínea 2 🙏' })).toEqual([
      { role: 'user', content: 'Subject: A & B <c> "d"\n\nlínea 1\nlínea 2 🙏' },
    ]);
  });

  it('renders numbers, booleans, null, objects and arrays as JSON', () => {
    const t = compileTemplate([{ role: 'user', content: '{{n}}|{{f}}|{{b}}|{{z}}|{{o}}|{{a}}' }]);
    expect(renderMessages(t, { n: 42, f: 0.5, b: false, z: null, o: { k: 'v' }, a: [1, 'x'] })[0]!.content).toBe(
      '42|0.5|false|null|{"k":"v"}|[1,"x"]',
    );
  });

  it('follows dotted paths into nested objects', () => {
    const t = compileTemplate([{ role: 'user', content: '{{meta.lang}}-{{meta.tags}}-{{ meta.owner.name }}' }]);
    expect(renderMessages(t, { meta: { lang: 'de', tags: ['x'], owner: { name: 'Zoë' } } })[0]!.content).toBe('de-["x"]-Zoë');
  });

  it('keeps role and name, and text without variables as is', () => {
    const t = compileTemplate([
      { role: 'system', content: 'No variables {here} or { {x} }.' },
      { role: 'user', name: 'alice', content: '{{q}}?' },
    ]);
    expect(renderMessages(t, { q: 'why' })).toEqual([
      { role: 'system', content: 'No variables {here} or { {x} }.' },
      { role: 'user', name: 'alice', content: 'why?' },
    ]);
  });
});

describe('variable names', () => {
  it('accept non-ASCII letters and inner spaces, as CSV headers have them', () => {
    const t = compileTemplate([{ role: 'user', content: '{{prénom}} / {{件名}} / {{Customer Tier}} / {{ x_1-b }}' }]);
    expect(t.variables).toEqual(['prénom', '件名', 'Customer Tier', 'x_1-b']);
    expect(renderMessages(t, { prénom: 'Zoë', 件名: '請求', 'Customer Tier': 'gold', 'x_1-b': 2 })[0]!.content).toBe('Zoë / 請求 / gold / 2');
    // a row lacking such a column is caught, instead of '{{prénom}}' being sent as text
    expect(missingVariables(t, { 件名: 'x', 'Customer Tier': 'y', 'x_1-b': 1 })).toEqual(['prénom']);
  });

  it('leave braces that are not a variable as text (JSON examples in a prompt)', () => {
    const t = compileTemplate([{ role: 'user', content: 'Like {{"a": 1}} or {{ }} or {{1x}} or {"b": {"c": 2}}' }]);
    expect(t.variables).toEqual([]);
    expect(renderMessages(t, {})[0]!.content).toBe('Like {{"a": 1}} or {{ }} or {{1x}} or {"b": {"c": 2}}');
  });

  it('prefer a column whose name contains a dot over a nested path', () => {
    const t = compileTemplate([{ role: 'user', content: '{{v1.2}}|{{meta.lang}}' }]);
    expect(renderMessages(t, { 'v1.2': 'flat', v1: { 2: 'nested' }, meta: { lang: 'en' } })[0]!.content).toBe('flat|en');
  });
});

describe('the escape for a literal {{', () => {
  it('renders \\{{ as {{ and does not treat what follows as a variable', () => {
    const t = compileTemplate([{ role: 'user', content: 'Write \\{{name}} to insert a column; this row: {{name}}. Braces: \\{{ and \\{{{name}}}' }]);
    expect(t.variables).toEqual(['name']);
    expect(renderMessages(t, { name: 'Ada' })[0]!.content).toBe('Write {{name}} to insert a column; this row: Ada. Braces: {{ and {{{name}}}');
  });

  it('does not ask the row for an escaped variable', () => {
    const t = compileTemplate([{ role: 'user', content: 'Literal \\{{missing}} only' }]);
    expect(missingVariables(t, {})).toEqual([]);
    expect(renderMessages(t, {})[0]!.content).toBe('Literal {{missing}} only');
  });

  it('leaves a backslash that is not before {{ alone', () => {
    const t = compileTemplate([{ role: 'user', content: 'a\\b \\{ {{x}}\\' }]);
    expect(renderMessages(t, { x: 1 })[0]!.content).toBe('a\\b \\{ 1\\');
  });
});

describe('missingVariables', () => {
  const t = compileTemplate([{ role: 'user', content: '{{subject}} {{meta.lang}} {{body}}' }]);

  it('names the variables a row lacks, top-level and dotted', () => {
    expect(missingVariables(t, { subject: 's', meta: {} })).toEqual(['meta.lang', 'body']);
    expect(missingVariables(t, { subject: 's', meta: 'not an object', body: 'b' })).toEqual(['meta.lang']);
  });

  it('counts present-but-empty values as present', () => {
    expect(missingVariables(t, { subject: '', meta: { lang: null }, body: 0 })).toEqual([]);
  });

  it('does not find inherited properties', () => {
    const t2 = compileTemplate([{ role: 'user', content: '{{toString}} {{a.constructor}}' }]);
    expect(missingVariables(t2, { a: {} })).toEqual(['toString', 'a.constructor']);
  });
});
