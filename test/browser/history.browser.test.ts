/**
 * history.html in a real browser (Debian's headless Chromium, as report.html): four nightly runs on the simulator,
 * the third answering worse on one model, the fourth served by a new snapshot. The page must load without console
 * errors or network requests, draw one trend chart per metric with the drift marked at the right run and cell and
 * the change drawn as a line, and show a run directory's name as text, never as HTML. A screenshot is kept in
 * test/artifacts/ for a person to look at.
 */
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, runMain } from '../helpers/cli.js';
import { useTempDirs, writeTree } from '../helpers/tmp.js';
import { available, launchChromium, noteIfSkipped, required } from './chromium.js';

const ARTIFACTS = join(ROOT, 'test/artifacts');
const DEMO = join(ROOT, 'datasets/demo');
const tempDir = useTempDirs();
noteIfSkipped('history.html');
const HOSTILE = 'n4<img src=x onerror=window.__xss=1>';

const config = (served: string) => `name: nightly-html
dataset: ${join(DEMO, 'tickets.csv')}
id_column: ticket_id
messages:
  - { role: user, content: "Triage as a JSON object with category, priority, summary and needs_human: {{subject}}" }
params: { max_tokens: 200, response_format: { type: json_object } }
grid: { model: [gpt-4o-mini, gpt-4.1-mini], temperature: [0.7], n: [3] }
schema: ${join(DEMO, 'triage.schema.json')}
provider: { simulator: { served: ${served} } }
`;

let browser: Browser;
let url = '';
let metrics: string[] = [];

beforeAll(async () => {
  if (!available && !required) return;
  // First: without Chromium under CI this fails at once, saying how to install it.
  browser = await launchChromium();
  const base = await tempDir('evalrun-history-browser-');
  const files = await writeTree(base, {
    'base.yaml': config('{}'),
    'worse.yaml': config('{ gpt-4.1-mini: { invalid_json: 0.6 } }'),
    'snapshot.yaml': config('{ gpt-4.1-mini: { invalid_json: 0.6 }, gpt-4o-mini: { model: gpt-4o-mini-2026-12-01, system_fingerprint: fp_new } }'),
  });
  for (const [dir, cfg] of [['n1', 'base'], ['n2', 'base'], ['n3', 'worse'], [HOSTILE, 'snapshot']] as const) {
    const r = await runMain(['run', files[`${cfg}.yaml`]!, '--out', join(base, 'runs', dir), '--quiet']);
    if (r.code !== 0 && r.code !== 1) throw new Error(`${dir}: exit ${r.code}: ${r.stderr}`);
  }
  const out = join(base, 'history');
  const h = await runMain(['history', join(base, 'runs', 'n*'), '--out', out]);
  if (h.code !== 0) throw new Error(`history: exit ${h.code}: ${h.stderr}`);
  metrics = (JSON.parse(await readFile(join(out, 'history.json'), 'utf8')) as { metrics: Array<{ name: string }> }).metrics.map((m) => m.name);
  url = pathToFileURL(join(out, 'history.html')).href;
  await mkdir(ARTIFACTS, { recursive: true });
}, 60_000);

afterAll(async () => {
  await browser?.close();
});

describe.skipIf(!available && !required)('history.html in Chromium', () => {
  it('draws a trend chart per metric, marks the drift and the change, and keeps hostile names as text', async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const problems: string[] = [];
    page.on('console', (m) => {
      // Chromium's hint about this test's own pixel reads is not the page's problem.
      if ((m.type() === 'error' || m.type() === 'warning') && !m.text().includes('willReadFrequently')) problems.push(`${m.type()}: ${m.text()}`);
    });
    page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
    page.on('request', (r) => {
      if (!r.url().startsWith('file:') && !r.url().startsWith('data:')) problems.push(`network request: ${r.url()}`);
    });
    await page.goto(url);
    await page.waitForSelector('body[data-ready="1"]', { timeout: 10_000 });

    // Page code as strings: the test is compiled without DOM types.
    const charts = (await page.evaluate(`window.__evalrunHistoryCharts.map(({ metric, chart }) => {
      const c = chart.canvas;
      const { data } = c.getContext('2d').getImageData(0, 0, c.width, c.height);
      let inked = 0;
      for (let i = 3; i < data.length; i += 4) if (data[i] > 0) inked++;
      return { metric, inked, lines: chart.data.datasets.filter((d) => !d.label.includes(' band ')).map((d) => d.label) };
    })`)) as Array<{ metric: string; inked: number; lines: string[] }>;
    expect(charts.map((c) => c.metric)).toEqual(metrics);
    for (const c of charts) {
      expect(c.inked).toBeGreaterThan(2000);
      expect(c.lines).toEqual(['gpt-4o-mini/t0.7/n3', 'gpt-4.1-mini/t0.7/n3']);
    }

    // The drift: a red triangle at the third run on gpt-4.1-mini's json_valid_rate line, nowhere else on it.
    const marks = (await page.evaluate(`(() => {
      const { chart } = window.__evalrunHistoryCharts.find((c) => c.metric === 'json_valid_rate');
      const line = (cell) => chart.data.datasets.find((d) => d.label === cell);
      return { big: line('gpt-4.1-mini/t0.7/n3').pointStyle, color: line('gpt-4.1-mini/t0.7/n3').pointBackgroundColor[2], mini: line('gpt-4o-mini/t0.7/n3').pointStyle };
    })()`)) as { big: string[]; mini: string[]; color: string };
    expect(marks.big).toEqual(['circle', 'circle', 'triangle', 'circle']);
    expect(marks.mini).toEqual(['circle', 'circle', 'circle', 'circle']);
    expect(marks.color).toBe('#b71c1c');

    // The change (a new snapshot) at the fourth run: a dashed purple line drawn at that x, none at the second.
    const ink = (await page.evaluate(`(() => {
      const { chart } = window.__evalrunHistoryCharts[0];
      const ctx = chart.canvas.getContext('2d');
      const r = window.devicePixelRatio || 1;
      const purple = (i) => {
        const x = Math.round(chart.scales.x.getPixelForValue(i) * r);
        const top = Math.round(chart.chartArea.top * r);
        const { data } = ctx.getImageData(x, top, 1, Math.round(chart.chartArea.bottom * r) - top);
        let n = 0;
        for (let k = 0; k < data.length; k += 4) {
          if (Math.abs(data[k] - 0x6a) < 20 && Math.abs(data[k + 1] - 0x1b) < 20 && Math.abs(data[k + 2] - 0x9a) < 20) n++;
        }
        return n;
      };
      return { changed: purple(3), unchanged: purple(1) };
    })()`)) as { changed: number; unchanged: number };
    expect(ink.changed).toBeGreaterThan(20);
    expect(ink.unchanged).toBe(0);
    const changes = (await page.evaluate(`[...document.querySelectorAll('#changes-table tbody tr')].map((tr) => tr.cells[3].textContent)`)) as string[];
    expect(changes[2]).toContain('gpt-4o-mini → gpt-4o-mini-2026-12-01');
    expect(changes[0]).toBe('nothing that we can see');
    const drift = (await page.evaluate(`[...document.querySelectorAll('#drift-table tbody tr')].map((tr) => [tr.cells[2].textContent, tr.cells[3].textContent, tr.cells[4].textContent])`)) as string[][];
    expect(drift).toContainEqual(['json_valid_rate', 'gpt-4.1-mini/t0.7/n3', 'worse']);

    // The run directory's name is text.
    const dirs = (await page.evaluate(`[...document.querySelectorAll('#runs-table tbody tr')].map((tr) => tr.cells[6].textContent)`)) as string[];
    expect(dirs.at(-1)).toContain(HOSTILE);
    expect(await page.evaluate('document.querySelectorAll("img").length')).toBe(0);
    expect(await page.evaluate('typeof window.__xss')).toBe('undefined');
    await page.screenshot({ path: join(ARTIFACTS, 'history.png'), fullPage: true });
    expect(problems).toEqual([]);
    await page.close();
  });
});
