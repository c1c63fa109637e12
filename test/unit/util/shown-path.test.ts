import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { shownPath } from '../../../src/util/shown-path.js';

describe('shownPath', () => {
  it('shows a path inside the working directory relative to it', () => {
    expect(shownPath(resolve('runs', 'demo'))).toBe(join('runs', 'demo'));
    expect(shownPath('./runs/demo')).toBe(join('runs', 'demo'));
  });

  it('keeps a path outside the working directory, and the directory itself, as given', () => {
    expect(shownPath('/elsewhere/rows.csv')).toBe('/elsewhere/rows.csv');
    expect(shownPath(resolve('..', 'x.csv'))).toBe(resolve('..', 'x.csv'));
    expect(shownPath(process.cwd())).toBe(process.cwd());
  });
});
