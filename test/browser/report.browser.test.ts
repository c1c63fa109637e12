/**
 * report.html in a real browser: Debian's headless Chromium driven by playwright-core (no browser download). The
 * page must load without console errors, draw its charts, show the XSS canaries as literal text, and never run
 * them. A screenshot is kept in test/artifacts/ for a person to look at.
 */
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Browser } from 'playwright-core';
import { available, launchChromium, noteIfSkipped, required } from './chromium.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/cli.js';
import { useTempDirs } from '../helpers/tmp.js';
import { CANARY_IMG, CANARY_SCRIPT, makeXssRun } from './xss-fixture.js';
import { runEval } from '../../src/app/run.js';

const ARTIFACTS = join(ROOT, 'test/artifacts');
const tempDir = useTempDirs();
noteIfSkipped('report.html');

let browser: Browser;
let reportUrl = '';
let demoUrl = '';
let demoDir = '';

beforeAll(async () => {
  if (!available && !required) return;
  const demoOut = join(await tempDir('evalrun-browser-demo-'), 'run');
  // Chromium starts in its own processes while this one runs the two evaluations.
  const [dir] = await Promise.all([
    makeXssRun(await tempDir('evalrun-browser-')),
    runEval({ config: join(ROOT, 'datasets/demo/evalrun.yaml'), out: demoOut }),
    mkdir(ARTIFACTS, { recursive: true }),
    launchChromium().then((b) => (browser = b)),
  ]);
  reportUrl = pathToFileURL(join(dir, 'report.html')).href;
  demoDir = demoOut;
  demoUrl = pathToFileURL(join(demoOut, 'report.html')).href;
}, 30_000);

afterAll(async () => {
  await browser?.close();
});

describe.skipIf(!available && !required)('report.html in Chromium', () => {
  it('loads with no console errors, draws its charts, keeps the canaries as text, and saves a screenshot', async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const problems: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error' || m.type() === 'warning') problems.push(`${m.type()}: ${m.text()}`);
    });
    page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
    page.on('request', (r) => {
      if (!r.url().startsWith('file:') && !r.url().startsWith('data:')) problems.push(`network request: ${r.url()}`);
    });
    await page.goto(reportUrl);
    await page.waitForSelector('body[data-ready="1"]', { timeout: 10_000 });

    // The charts exist and have pixels on their canvases.
    // Page code as strings: the test is compiled without DOM types.
    const charts = (await page.evaluate(`(() => {
      const inked = [...document.querySelectorAll('canvas')].map((c) => {
        const { data } = c.getContext('2d').getImageData(0, 0, c.width, c.height);
        let n = 0;
        for (let i = 3; i < data.length; i += 4) if (data[i] > 0) n++;
        return n;
      });
      return { count: window.__evalrunCharts.length, inked };
    })()`)) as { count: number; inked: number[] };
    // finish_reason, latency, and the "which to pick" scatter.
    expect(charts.count).toBe(3);
    expect(charts.inked).toHaveLength(3);
    for (const n of charts.inked) expect(n).toBeGreaterThan(2000);

    // finish_reason bars include truncation (max_tokens 12).
    const legend = (await page.evaluate('window.__evalrunCharts[0].data.datasets.map((d) => d.label)')) as string[];
    expect(legend).toEqual(expect.arrayContaining(['stop', 'length']));

    // The heatmap: temperature × top_p by default, max_tokens fixed by a filter, so each square is one cell.
    const squares = () => page.locator('#heatmaps td.hm:not(.empty)');
    const titles = async () => (await page.evaluate(`[...document.querySelectorAll('#heatmaps td.hm:not(.empty)')].map((t) => t.title)`)) as string[];
    await page.selectOption('#heatmap-metric', 'length_rate');
    expect(await page.locator('#heatmaps table.heatmap').count()).toBe(1);
    expect(await squares().count()).toBe(4);
    expect(await page.locator('#heatmaps td.hm[data-cells]:not([data-cells="1"])').count()).toBe(0);
    expect(await page.evaluate(`[...document.querySelectorAll('#heatmap-filters select')].map((s) => s.dataset.axis)`)).toEqual(['max_tokens']);
    const first = await titles();
    expect(first).toHaveLength(4);
    expect(first.every((t) => /max_tokens=12:/.test(t))).toBe(true);
    await page.selectOption('#heatmap-filter-max_tokens', '200');
    const second = await titles();
    expect(second).toHaveLength(4);
    expect(second.every((t) => /max_tokens=200:/.test(t))).toBe(true);
    // Two cells that differ only in max_tokens are two squares, with their own values (12 tokens truncate, 200 do not).
    await page.selectOption('#heatmap-y', 'max_tokens');
    await page.selectOption('#heatmap-x', 'temperature');
    await page.selectOption('#heatmap-filter-top_p', '1');
    const table = (await page.evaluate(
      `[...document.querySelectorAll('#heatmaps table.heatmap tr')].map((r) => [...r.children].map((c) => c.textContent.trim()))`,
    )) as string[][];
    expect(table[0]).toEqual(['max_tokens \\ temperature', '0', '1.2']);
    expect(table.slice(1).map((r) => r[0])).toEqual(['12', '200']);
    expect(await squares().count()).toBe(4);
    const byCell = Object.fromEntries((await titles()).map((t) => [t.split(':')[0], t]));
    expect(Object.keys(byCell).sort()).toEqual(['gpt-4o-mini/t0/p1/n2/max_tokens=12', 'gpt-4o-mini/t0/p1/n2/max_tokens=200', 'gpt-4o-mini/t1.2/p1/n2/max_tokens=12', 'gpt-4o-mini/t1.2/p1/n2/max_tokens=200'].sort());
    expect(table[1]![1]).not.toBe(table[2]![1]);

    // The canaries show as literal text and never ran.
    const failingText = await page.locator('#failing-table').innerText();
    expect(failingText).toContain(CANARY_IMG);
    expect(failingText).toContain(CANARY_SCRIPT);
    expect(failingText).toContain('r1<img src=y onerror=window.__xss=2>');
    expect(await page.evaluate('document.querySelectorAll("img").length')).toBe(0);
    expect(await page.evaluate('typeof window.__xss')).toBe('undefined');

    // Filtering the failing choices by cell works.
    const before = await page.locator('#failing-table tbody tr').count();
    await page.selectOption('#failing-cell', { index: 1 });
    const after = await page.locator('#failing-table tbody tr').count();
    expect(after).toBeGreaterThan(0);
    expect(after).toBeLessThan(before);

    await page.setViewportSize({ width: 1280, height: 1600 });
    await page.screenshot({ path: join(ARTIFACTS, 'report.png') });
    expect(problems).toEqual([]);
    await page.close();
  });

  it('reads well on the demo: a sortable cells table that fits 1,400 px, significant-only comparison, failing choices with their input and expected vs got', async () => {
    const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    const problems: string[] = [];
    page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
    await page.goto(demoUrl);
    await page.waitForSelector('body[data-ready="1"]', { timeout: 10_000 });

    // The cells table fits: no horizontal scrolling in its section, nothing wider than the window.
    const fit = (await page.evaluate(`(() => {
      const t = document.getElementById('cells-table');
      const s = document.getElementById('cells');
      return { table: t.scrollWidth, section: s.scrollWidth, inner: s.clientWidth, doc: document.documentElement.scrollWidth };
    })()`)) as { table: number; section: number; inner: number; doc: number };
    expect(fit.table).toBeLessThanOrEqual(1400);
    expect(fit.section).toBeLessThanOrEqual(fit.inner);
    expect(fit.doc).toBeLessThanOrEqual(1400);

    // Sorting: a click on a header orders the rows by that column, a second click the other way.
    const column = async (name: string) => {
      const headers = (await page.locator('#cells-table thead th').allInnerTexts()).map((h) => h.replace(/[\s↑↓]/g, ''));
      const i = headers.indexOf(name);
      expect(i, headers.join(',')).toBeGreaterThanOrEqual(0);
      return i;
    };
    const values = async (i: number) =>
      (await page.evaluate(`[...document.querySelectorAll('#cells-table tbody tr')].map((tr) => tr.cells[${i}].getAttribute('data-sort'))`)) as string[];
    for (const name of ['p50ms', 'schema_valid_rate', 'cell']) {
      const i = await column(name);
      await page.locator('#cells-table thead th').nth(i).click();
      const up = await values(i);
      const cmp = (a: string, b: string) => (name === 'cell' ? a.localeCompare(b, 'en', { sensitivity: 'variant' }) && (a < b ? -1 : 1) : Number(a) - Number(b));
      expect(up, name).toEqual([...up].sort(cmp));
      expect(await page.locator('#cells-table thead th').nth(i).getAttribute('aria-sort')).toBe('ascending');
      await page.locator('#cells-table thead th').nth(i).click();
      const down = await values(i);
      expect(down, name).toEqual([...up].sort(cmp).reverse());
      expect(new Set(down).size > 1 || name === 'p50ms', name).toBe(true);
    }

    // A scored check's mean score: a number (not a percentage) after its pass rate, its interval in the tooltip,
    // its unscored rate under it (no column of its own: the table must fit); sorted by the mean like any other column.
    const scoreAt = await column('fits_tier_score_mean');
    expect(await column('fits_tier_pass_rate')).toBe(scoreAt - 1);
    const headers = (await page.locator('#cells-table thead th').allInnerTexts()).map((h) => h.replace(/[\s↑↓]/g, ''));
    expect(headers).not.toContain('fits_tier_unscored_rate');
    const scoreCells = (await page.evaluate(`[...document.querySelectorAll('#cells-table tbody tr')].map((tr) => {
      const td = tr.cells[${scoreAt}];
      const under = td.querySelector('.unscored');
      return { cell: tr.cells[0].querySelector('a').textContent, text: td.firstChild.textContent, unscored: under && under.textContent, title: td.getAttribute('title'), sort: td.getAttribute('data-sort') };
    })`)) as Array<{ cell: string; text: string; unscored: string | null; title: string; sort: string }>;
    const demo = JSON.parse(await readFile(join(demoDir, 'summary.json'), 'utf8')) as { cells: Array<Record<string, number> & { cell: string }> };
    expect(scoreCells).toHaveLength(demo.cells.length);
    scoreCells.forEach((c) => {
      const s = demo.cells.find((d) => d.cell === c.cell)!;
      expect(c.text).toMatch(new RegExp(`^${s['fits_tier_score_mean']!.toFixed(3).replace('.', '\\.')}( [▲▼◆])?$`));
      expect(c.title).toBe(`mean of ${s['fits_tier_scored']} scores, 95% CI ${s['fits_tier_score_mean_low']!.toFixed(3)}–${s['fits_tier_score_mean_high']!.toFixed(3)}; ${s['fits_tier_unscored']} of ${s['fits_tier_answered']} answers unscored`);
      expect(c.unscored).toBe(`${(s['fits_tier_unscored_rate']! * 100).toFixed(1)}% unscored`);
      expect(Number(c.sort)).toBe(s['fits_tier_score_mean']);
    });
    await page.locator('#cells-table thead th').nth(scoreAt).click();
    const byScore = await values(scoreAt);
    expect(byScore).toEqual([...byScore].sort((x, y) => Number(x) - Number(y)));
    for (const m of ['fits_tier_score_mean', 'fits_tier_unscored_rate']) expect(await page.locator(`#heatmap-metric option[value="${m}"]`).count(), m).toBe(1);

    // The comparison table hides rows with no significant difference on request, and shows them again.
    const rows = page.locator('#comparison-table tbody tr');
    const all = await rows.count();
    const significant = await page.locator('#comparison-table tbody tr[class^="sig-"]').count();
    expect(significant).toBeGreaterThan(0);
    expect(significant).toBeLessThan(all);
    await page.check('#comparison-significant-only');
    expect(await page.locator('#comparison-table tbody tr:visible').count()).toBe(significant);
    expect(await page.locator('#comparison-table tbody tr:visible').allInnerTexts()).not.toContainEqual(expect.stringContaining('no significant difference'));
    await page.uncheck('#comparison-significant-only');
    expect(await page.locator('#comparison-table tbody tr:visible').count()).toBe(all);

    // A choice failing category_matches shows the ticket it answered and what was expected vs what it said.
    const failing = (await page.evaluate(`[...document.querySelectorAll('#failing-table tbody tr')].map((tr) => ({
      input: tr.querySelector('pre.input').textContent,
      expected: [...tr.querySelectorAll('.expected-got')].map((d) => d.textContent),
    }))`)) as Array<{ input: string; expected: string[] }>;
    expect(failing.length).toBeGreaterThan(0);
    expect(failing.every((f) => /^ticket_id: T-\d+$/m.test(f.input) && /^subject: ./m.test(f.input))).toBe(true);
    const mismatches = failing.filter((f) => f.expected.some((e) => e.startsWith('category_matches: ')));
    expect(mismatches.length).toBeGreaterThan(0);
    for (const f of mismatches) {
      const label = /^label: (.*)$/m.exec(f.input)![1]!;
      const line = f.expected.find((e) => e.startsWith('category_matches: '))!;
      // got: the JSON value the answer had at /category (a schema-violating answer may have a number there).
      const m = /^category_matches: expected "([^"]*)", (got (.+)|got no value there)$/.exec(line);
      expect(m, line).not.toBeNull();
      expect(m![1]).toBe(label);
      if (m![3] !== undefined && m![2] !== 'got no value there') expect(JSON.parse(m![3])).not.toBe(label);
    }
    await page.screenshot({ path: join(ARTIFACTS, 'report-demo.png'), fullPage: false });
    expect(problems).toEqual([]);
    await page.close();
  });

  it('draws "which to pick" on the demo: one point per cell, the frontier cells marked and joined cheapest first', async () => {
    const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    const problems: string[] = [];
    page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
    await page.goto(demoUrl);
    await page.waitForSelector('body[data-ready="1"]', { timeout: 10_000 });
    const drawn = (await page.evaluate(`(() => {
      const canvas = document.querySelector('#pick canvas');
      const chart = window.__evalrunCharts.find((c) => c.canvas === canvas);
      const data = JSON.parse(document.getElementById('evalrun-data').textContent);
      const { data: px } = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height);
      let inked = 0;
      for (let i = 3; i < px.length; i += 4) if (px[i] > 0) inked++;
      return {
        type: chart.config.type,
        datasets: chart.data.datasets.map((d) => ({ label: d.label, showLine: Boolean(d.showLine), ids: d.data.map((p) => p.id), xs: d.data.map((p) => p.x) })),
        cells: data.cells.map((c) => c.id),
        frontier: data.summary.pick.frontier,
        marked: data.cells.filter((c) => c.pick.frontier).map((c) => c.id),
        table: [...document.querySelectorAll('#pick-table tbody tr')].map((tr) => tr.cells[2].textContent),
        recommended: document.getElementById('pick-recommended')?.textContent ?? null,
        inked,
      };
    })()`)) as {
      type: string;
      datasets: Array<{ label: string; showLine: boolean; ids: string[]; xs: number[] }>;
      cells: string[];
      frontier: string[];
      marked: string[];
      table: string[];
      recommended: string | null;
      inked: number;
    };
    expect(drawn.type).toBe('scatter');
    expect(drawn.recommended).toMatch(/^Recommended: \S+ \(/);
    const [front, others] = drawn.datasets;
    // One point per cell: the demo's 24 cells (2 prompts × 12 settings), each drawn once.
    expect(drawn.cells).toHaveLength(24);
    expect([...front!.ids, ...others!.ids].sort()).toEqual([...drawn.cells].sort());
    // The frontier is its own line, in summary.json's order (cheapest first), and only frontier cells are on it.
    expect(front!.label).toMatch(/frontier/);
    expect(front!.showLine).toBe(true);
    expect(others!.showLine).toBe(false);
    expect(front!.ids).toEqual(drawn.frontier);
    expect([...drawn.marked].sort()).toEqual([...drawn.frontier].sort());
    expect(front!.ids.length).toBeGreaterThan(0);
    expect(front!.ids.length).toBeLessThan(24);
    expect(front!.xs).toEqual([...front!.xs].sort((a, b) => a - b));
    expect(drawn.table).toEqual(drawn.frontier);
    // The cells table marks the same cells.
    const rows = (await page.evaluate(`[...document.querySelectorAll('#cells-table tbody tr.frontier')].map((tr) => tr.cells[0].getAttribute('data-sort'))`)) as string[];
    expect(rows.sort()).toEqual([...drawn.frontier].sort());
    expect(drawn.inked).toBeGreaterThan(2000);
    await page.locator('#pick').screenshot({ path: join(ARTIFACTS, 'report-pick.png') });
    expect(problems).toEqual([]);
    await page.close();
  });
});
