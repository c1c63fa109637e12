/**
 * report.html as a file: self-contained (no network), a Content-Security-Policy that admits only its own two
 * scripts, and model output / dataset text only inside the JSON data block, escaped so it cannot close it.
 * The browser test (test/browser) loads the same kind of file in Chromium.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { jsonForScript } from '../../src/report/html/page.js';
import { useTempDirs } from '../helpers/tmp.js';
import { CANARY_IMG, CANARY_SCRIPT, makeXssRun } from '../browser/xss-fixture.js';

const tempDir = useTempDirs();
let html = '';
let records: Array<{ row_id: string; error: unknown; choices: Array<{ finish_reason: string; checks?: Record<string, boolean | null> }>; input?: Record<string, unknown> }> = [];

beforeAll(async () => {
  const dir = await makeXssRun(await tempDir('evalrun-html-'));
  html = await readFile(join(dir, 'report.html'), 'utf8');
  records = (await readFile(join(dir, 'records.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l));
}, 30_000);

describe('report.html', () => {
  it('loads nothing from the network: no src or href attributes, Chart.js inlined', () => {
    expect(html).not.toMatch(/\s(src|href)\s*=\s*["']?(https?:)?\/\//i);
    expect(html).not.toMatch(/<script[^>]+src=/i);
    expect(html).toMatch(/Chart\.js v4\.\d+\.\d+/);
  });

  it('admits exactly its own inline scripts through the CSP, by hash', () => {
    const csp = /<meta http-equiv="Content-Security-Policy" content="([^"]+)">/.exec(html)![1]!;
    expect(csp).toContain("default-src 'none'");
    const scripts = [...html.matchAll(/<script>([\s\S]*?)<\/script>/g)].map((m) => m[1]!);
    expect(scripts).toHaveLength(2);
    for (const s of scripts) expect(csp).toContain(`'sha256-${createHash('sha256').update(s).digest('base64')}'`);
    expect(csp).not.toContain('unsafe-inline\' ;script');
    expect(/script-src ([^;]+)/.exec(csp)![1]).not.toContain('unsafe-inline');
  });

  it('carries the canaries only as escaped JSON data, never as markup', () => {
    expect(html).not.toContain(CANARY_IMG);
    expect(html).not.toContain('<img');
    expect(html).not.toContain(CANARY_SCRIPT);
    const block = /<script type="application\/json" id="evalrun-data">([\s\S]*?)<\/script>/.exec(html)![1]!;
    expect(block).not.toContain('<');
    const data = JSON.parse(block);
    const contents = data.failing.shown.map((f: { content: string | null }) => f.content).join('\n');
    expect(contents).toContain(CANARY_IMG);
    expect(contents).toContain(CANARY_SCRIPT);
    expect(data.failing.shown.some((f: { row_id: string }) => f.row_id.includes('<img src=y'))).toBe(true);
  });

  it('escapes every character that could end the block or confuse a parser', () => {
    const s = jsonForScript({ a: '</script><!-- & \u2028 \u2029 >' });
    expect(s).not.toMatch(/[<>&\u2028\u2029]/);
    expect(JSON.parse(s)).toEqual({ a: '</script><!-- & \u2028 \u2029 >' });
  });

  it('shows each failing choice with the dataset row it answered, carried by the records of failing requests only', () => {
    const block = /<script type="application\/json" id="evalrun-data">([\s\S]*?)<\/script>/.exec(html)![1]!;
    const data = JSON.parse(block);
    expect(data.failing.shown.length).toBeGreaterThan(0);
    for (const f of data.failing.shown) {
      expect(f.input, f.row_id).toMatchObject({ id: f.row_id });
      expect(typeof f.input.text).toBe('string');
    }
    expect(data.failing.shown.some((f: { input: { text: string } }) => f.input.text === CANARY_IMG)).toBe(true);
    const fails = (r: (typeof records)[number]) =>
      r.error !== null || r.choices.some((c) => c.finish_reason !== 'stop' || Object.values(c.checks ?? {}).includes(false));
    // (Every request of this run fails something; test/e2e/wording.test.ts has records that carry no input.)
    for (const r of records) expect(r.input !== undefined, r.row_id).toBe(fails(r));
  });
});
