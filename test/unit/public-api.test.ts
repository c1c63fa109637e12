import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

// evalrun uses its dependencies through their public APIs only: a patched private method, a private field or a
// package's internal file can change under us in any patch release. These checks read src/ as text, so a private
// hook that creeps back fails here before it fails for a user after an `npm update`.

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const SRC = join(ROOT, 'src');

function sources(dir: string): Array<{ file: string; text: string }> {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return sources(path);
    return e.name.endsWith('.ts') ? [{ file: relative(ROOT, path), text: readFileSync(path, 'utf8') }] : [];
  });
}

const files = sources(SRC);

/** Every module specifier: static and dynamic imports, require, createRequire(...)('x') and require.resolve. */
function specifiers(text: string): string[] {
  const re = /(?:\bfrom\s+|\bimport\s*\(\s*|\brequire\s*\(\s*|\)\s*\(\s*|\.resolve\s*\(\s*)['"]([^'"\s]+)['"]/g;
  return [...text.matchAll(re)].map((m) => m[1]!);
}

/** Whether a package's `exports` map offers `subpath` ('./x'), patterns with `*` included. */
function exported(exportsField: unknown, subpath: string): boolean {
  if (typeof exportsField !== 'object' || exportsField === null) return false;
  for (const key of Object.keys(exportsField)) {
    if (key === subpath) return true;
    const star = key.indexOf('*');
    if (star >= 0 && subpath.startsWith(key.slice(0, star)) && subpath.endsWith(key.slice(star + 1))) return true;
  }
  return false;
}

/**
 * Packages without an `exports` map expose files by path; only the entry points their own documentation names are
 * public. Ajv documents `ajv/dist/2020` for JSON Schema draft 2020-12 (ajv.js.org/json-schema.html#draft-2020-12).
 */
const DOCUMENTED_FILES = new Set(['ajv/dist/2020.js', 'ajv/dist/2020']);

describe('dependencies are used through their public APIs only', () => {
  it('finds the sources it checks', () => {
    expect(files.some((f) => f.file === join('src', 'run', 'http-fetch.ts'))).toBe(true);
    expect(specifiers(files.find((f) => f.file === join('src', 'run', 'http-fetch.ts'))!.text)).toContain('undici');
  });

  it("imports no package's internal files", () => {
    const bad: string[] = [];
    for (const { file, text } of files) {
      for (const spec of specifiers(text)) {
        if (spec.startsWith('.') || spec.startsWith('node:')) continue;
        const parts = spec.split('/');
        const name = spec.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]!;
        const sub = spec.slice(name.length);
        if (!sub) continue;
        const pkg = JSON.parse(readFileSync(join(ROOT, 'node_modules', name, 'package.json'), 'utf8')) as { exports?: unknown };
        const ok = pkg.exports !== undefined ? exported(pkg.exports, `.${sub}`) : DOCUMENTED_FILES.has(spec);
        if (!ok || /\/(lib|internal|_internal|src)\//.test(`${sub}/`)) bad.push(`${file}: '${spec}'`);
      }
    }
    expect(bad).toEqual([]);
  });

  it("neither patches nor reads the openai SDK client's private or protected members", () => {
    // The names come from the SDK's own declarations, so a new private member is covered without a change here.
    const dts = readFileSync(join(ROOT, 'node_modules/openai/client.d.ts'), 'utf8');
    const hidden = [...dts.matchAll(/^\s+(?:private|protected)\s+(?:readonly\s+)?#?(\w+)/gm)].map((m) => m[1]!);
    expect(hidden).toContain('buildHeaders');
    // `fetch` is private on the client but is also what every fetch is called: the SDK takes ours through its
    // public `fetch` option, and `.fetch(` on the client is what the next pattern would catch anyway.
    const names = hidden.filter((n) => n !== 'fetch');
    const bad: string[] = [];
    for (const { file, text } of files) {
      for (const n of names) {
        if (new RegExp(`\\.${n}\\b|\\[['"]${n}['"]\\]|\\b${n}\\s*:\\s*(?:async\\s+)?function\\b`).test(text)) bad.push(`${file}: ${n}`);
      }
      if (/\bclient\s*\.\s*fetch\b|__classPrivateField/.test(text)) bad.push(`${file}: the client's private fetch`);
    }
    expect(bad).toEqual([]);
  });

  it('names no private hook the project once used', () => {
    const bad = files.filter(({ text }) => /buildHeaders|undici\/lib\/|lib\/dispatcher\//.test(text)).map((f) => f.file);
    expect(bad).toEqual([]);
  });

  it('keeps no module-level mutable state on the run path: two runs in one process share nothing', () => {
    const bad = files
      .filter((f) => f.file.startsWith(join('src', 'run') + '/'))
      .flatMap(({ file, text }) => text.split('\n').flatMap((line, i) => (/^(?:export\s+)?(?:let|var)\s/.test(line) ? [`${file}:${i + 1}: ${line.trim()}`] : [])));
    expect(bad).toEqual([]);
  });
});
