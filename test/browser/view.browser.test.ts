/**
 * `evalrun view` in a real browser (Debian's headless Chromium through playwright-core): one row across every cell
 * with its verdicts, each filter, the diff, hostile output kept as text, paging through a large generated run, and
 * report.html's links into the viewer. Timing targets live in the bench (test/bench/run.mjs), not here.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { available, launchChromium, noteIfSkipped, required } from './chromium.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanEnv } from '../helpers/cli.js';
import { useTempDirs } from '../helpers/tmp.js';
import { GEN_CELLS, HOSTILE_REASON, NEEDLE, NEEDLE_ROW, gen, makeGeneratedRun } from '../helpers/view-run.js';
import { CANARY_IMG, CANARY_SCRIPT, makeXssRun } from './xss-fixture.js';
import { openViewer } from '../../src/app/view.js';
import type { Viewer } from '../../src/view/index.js';
import type { RequestRecord } from '../../src/record/index.js';

const tempDir = useTempDirs();
noteIfSkipped('evalrun view');

/** Large enough that its journal spans several of the index pass's 1 MiB reads; how fast it pages is the bench's. */
const ROWS = 5_000;
/** The filters' run: smaller, so the filters that read it all stay quick on a busy machine. */
const FILTER_ROWS = 2_000;
let browser: Browser;
/** One context for every page: the viewer keeps no state in the browser, so pages need no profile of their own. */
let context: BrowserContext;
let xssDir = '';
let xss: Viewer;
let big: Viewer;
let small: Viewer;
const problems: string[] = [];

beforeAll(async () => {
  if (!available && !required) return;
  // Chromium starts in its own processes while this one writes the runs.
  const [, x, bigDir, smallDir] = await Promise.all([
    launchChromium().then(async (b) => {
      browser = b;
      context = await b.newContext({ viewport: { width: 1400, height: 900 } });
    }),
    makeXssRun(await tempDir('evalrun-view-xss-')),
    makeGeneratedRun(await tempDir('evalrun-view-big-'), ROWS),
    makeGeneratedRun(await tempDir('evalrun-view-small-'), FILTER_ROWS),
  ]);
  xssDir = x;
  xss = (await openViewer(xssDir, 0, cleanEnv())).viewer;
  big = (await openViewer(bigDir, 0, cleanEnv())).viewer;
  small = (await openViewer(smallDir, 0, cleanEnv())).viewer;
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await xss?.close();
  await big?.close();
  await small?.close();
});

async function open(url: string): Promise<Page> {
  const page = await context.newPage();
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning') problems.push(`${m.type()}: ${m.text()}`);
  });
  page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
  await page.goto(url);
  await ready(page);
  return page;
}
const ready = (page: Page) => page.waitForSelector('body[data-state="ready"]', { timeout: 60_000 });
/** Submits the filter form and waits for the (possibly several-request) scan to settle. */
async function apply(page: Page): Promise<void> {
  await page.click('#apply');
  await ready(page);
}
const rowIds = (page: Page) => page.locator('section.row').evaluateAll((s) => s.map((x) => x.getAttribute('data-row-id')));
const firstMatches = (pred: (i: number) => boolean, n = 10) => {
  const out: string[] = [];
  for (let i = 0; i < FILTER_ROWS && out.length < n; i++) if (pred(i)) out.push(gen.id(i));
  return out;
};
const verdict = (v: boolean | null | undefined) => (v === true ? 'pass' : v === false ? 'fail' : 'none');
async function recordsOf(dir: string): Promise<RequestRecord[]> {
  return (await readFile(join(dir, 'records.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as RequestRecord);
}

// Generous: on a busy 2-core machine a filter that reads a whole run takes seconds; the bench times the viewer.
describe.skipIf(!available && !required)('evalrun view in Chromium', { timeout: 180_000 }, () => {
  it("shows one row's input and every cell's choices side by side, each with its finish_reason, verdicts, tokens and latency", async () => {
    const records = await recordsOf(xssDir);
    const manifest = JSON.parse(await readFile(join(xssDir, 'run.json'), 'utf8')) as { plan: { cells: Array<{ id: string }> } };
    const cells = manifest.plan.cells.map((c) => c.id);
    // Row 4 (r4), marked cell: the fourth.
    const row = 3;
    const seq = row * cells.length + 3;
    const page = await open(`${xss.url}?seq=${seq}`);
    expect(await page.locator('section.row').count()).toBe(1);
    const section = page.locator('section.row');
    expect(await section.getAttribute('data-row-id')).toBe('r4');
    expect(await section.locator('table.input').innerText()).toContain('How do I reset my password?');
    expect(await section.locator('table.answers thead th').allInnerTexts()).toEqual(cells);
    expect(await section.locator('td.focus').getAttribute('data-cell')).toBe(cells[3]);
    for (const [c, id] of cells.entries()) {
      const record = records.filter((r) => r.seq === row * cells.length + c).at(-1)!;
      const td = section.locator(`td.answer[data-cell="${id}"]`);
      const shown = await td.locator('.choice').evaluateAll((nodes) =>
        nodes.map((n) => ({
          content: n.querySelector('pre.content:not(.tool)')!.textContent,
          finish: n.querySelector('[data-finish]')!.getAttribute('data-finish'),
          sorry: n.querySelector('[data-check="says_sorry"]')!.getAttribute('data-verdict'),
          json: n.querySelector('[data-check="json_valid"]')!.getAttribute('data-verdict'),
          schema: n.querySelector('[data-check="schema_valid"]')!.getAttribute('data-verdict'),
        })),
      );
      expect(shown).toEqual(
        record.choices.map((ch) => ({ content: ch.content, finish: ch.finish_reason, sorry: verdict(ch.checks!['says_sorry']), json: verdict(ch.json_valid), schema: verdict(ch.schema_valid) })),
      );
      const meta = await td.locator('.meta').innerText();
      expect(meta).toContain(`latency ${record.latency_ms!.toLocaleString('en-US')} ms`);
      expect(meta).toContain(`completion_tokens ${record.usage!.completion_tokens}`);
    }
    await page.close();
  });

  it('shows check scores, reasons and token details when the records carry them', async () => {
    const page = await open(`${big.url}?seq=${3 * GEN_CELLS.length + 2}`);
    const td = page.locator(`td.answer[data-cell="${GEN_CELLS[2]}"]`);
    expect(await td.locator('[data-check="judge"]').innerText()).toBe('judge ✗ 0.25');
    expect(await td.locator('[data-reason="judge"]').innerText()).toBe(`judge: ${HOSTILE_REASON}`);
    expect(await td.locator('.meta').innerText()).toContain('prompt_tokens_details.cached_tokens 16');
    // A detail of 0 is left out: the meta line stays readable.
    expect(await td.locator('.meta').innerText()).not.toContain('audio_tokens');
    expect(await page.locator(`td.answer[data-cell="${GEN_CELLS[0]}"] [data-check="judge"]`).getAttribute('data-verdict')).toBe('none');
    await page.close();
  });

  it('filters by cell, by check failing and passing, by finish_reason, by text in inputs and answers, and by two cells disagreeing', async () => {
    const page = await open(small.url);
    expect(await rowIds(page)).toEqual(firstMatches(() => true));

    // Cell: only the ticked columns.
    await page.check('#cell-1');
    await apply(page);
    expect(await page.locator('section.row').first().locator('table.answers thead th').allInnerTexts()).toEqual([GEN_CELLS[1]]);
    await page.click('#clear');
    await ready(page);

    // A check failing, then passing (in any shown cell).
    await page.selectOption('#f-check', 'judge');
    await page.selectOption('#f-verdict', 'fail');
    await apply(page);
    expect(await rowIds(page)).toEqual(firstMatches((i) => gen.judge(i, 2) === false));
    await page.selectOption('#f-check', 'says_sorry');
    await page.selectOption('#f-verdict', 'pass');
    await apply(page);
    expect(await rowIds(page)).toEqual(firstMatches((i) => GEN_CELLS.some((_, c) => gen.sorry(i, c))));
    // …and only in the ticked cells: cell 0 never says sorry.
    await page.check('#cell-0');
    await apply(page);
    expect(await rowIds(page)).toEqual([]);
    expect(await page.locator('#status').innerText()).toBe('no rows match');
    await page.click('#clear');
    await ready(page);

    // finish_reason.
    await page.selectOption('#f-finish', 'length');
    await apply(page);
    expect(await rowIds(page)).toEqual(firstMatches((i) => gen.finish(i, 2) === 'length'));
    await page.click('#clear');
    await ready(page);

    // Text in the inputs (one row, far into the run: the scan goes on over several requests) and in the answers.
    await page.fill('#f-text', NEEDLE.toUpperCase());
    await apply(page);
    expect(await rowIds(page)).toEqual([gen.id(NEEDLE_ROW)]);
    expect(await page.locator('#status').innerText()).toBe(`rows 1–1 of 1`);
    await page.fill('#f-text', 'order 14 ships on monday');
    await apply(page);
    expect(await rowIds(page)).toEqual([gen.id(14)]);
    await page.click('#clear');
    await ready(page);

    // Two cells disagreeing: on their answers, then on their verdicts.
    await page.selectOption('#f-a', GEN_CELLS[0]!);
    await page.selectOption('#f-b', GEN_CELLS[1]!);
    await apply(page);
    expect(await rowIds(page)).toEqual(firstMatches((i) => gen.content(i, 0) !== gen.content(i, 1)));
    await page.selectOption('#f-a', GEN_CELLS[1]!);
    await page.selectOption('#f-b', GEN_CELLS[2]!);
    await page.selectOption('#f-on', 'verdicts');
    await apply(page);
    expect(await rowIds(page)).toEqual(firstMatches((i) => gen.sorry(i, 1) !== gen.sorry(i, 2) || gen.judge(i, 1) !== gen.judge(i, 2)));
    await page.selectOption('#f-a', GEN_CELLS[0]!);
    await page.selectOption('#f-b', GEN_CELLS[1]!);
    await page.selectOption('#f-on', 'verdicts');
    await page.selectOption('#f-check', 'says_sorry');
    await page.selectOption('#f-verdict', 'pass');
    await apply(page);
    // Filters combine: the state is in the address, so the same view opens from a copied link.
    const url = page.url();
    expect(new URL(url).searchParams.get('on')).toBe('verdicts');
    const again = await open(url);
    expect(await rowIds(again)).toEqual(await rowIds(page));
    expect(await rowIds(page)).toEqual(firstMatches((i) => gen.sorry(i, 0) !== gen.sorry(i, 1)));
    await again.close();
    await page.close();
  });

  it("diffs two cells' answers for the same row", async () => {
    const page = await open(`${big.url}?seq=${7 * GEN_CELLS.length}`);
    const section = page.locator('section.row');
    await section.locator('select.diff-a').selectOption(GEN_CELLS[0]!);
    await section.locator('select.diff-b').selectOption(GEN_CELLS[1]!);
    await section.locator('button.diff-go').click();
    await ready(page);
    const diff = section.locator('.diff');
    expect(await diff.locator('del').count()).toBeGreaterThan(0);
    expect(await diff.locator('ins').count()).toBeGreaterThan(0);
    // Unchanged and deleted parts make the first answer; unchanged and inserted ones the second.
    const sides = (await diff.locator('pre').evaluate((pre) => {
      const parts = [...pre.childNodes].map((n) => [n.nodeName, n.textContent]);
      return [parts.filter(([k]) => k !== 'INS').map(([, t]) => t).join(''), parts.filter(([k]) => k !== 'DEL').map(([, t]) => t).join('')];
    })) as string[];
    expect(sides).toEqual([gen.content(7, 0), gen.content(7, 1)]);
    expect(await diff.locator('del').allInnerTexts()).toContain('Order');
    expect(await diff.locator('ins').allInnerTexts()).toContain('Monday');
    await page.close();
  });

  it('keeps hostile dataset values, row ids, answers and check reasons as text: nothing runs', async () => {
    const page = await open(`${xss.url}?limit=10`);
    const text = await page.locator('#rows').innerText();
    expect(text).toContain(CANARY_IMG);
    expect(text).toContain(CANARY_SCRIPT);
    expect(text).toContain('r1<img src=y onerror=window.__xss=2>');
    expect(await page.evaluate('document.querySelectorAll("img, #rows script").length')).toBe(0);
    // A search for markup finds it as text, and the diff shows it as text.
    await page.fill('#f-text', '<img src=x');
    await apply(page);
    expect(await rowIds(page)).toEqual(['r1<img src=y onerror=window.__xss=2>']);
    await page.locator('button.diff-go').first().click();
    await ready(page);
    expect(await page.locator('.diff pre').innerText()).toContain('<img src=x onerror=window.__xss=1>');
    const judged = await open(`${big.url}?seq=5`);
    expect(await judged.locator('[data-reason="judge"]').innerText()).toContain(HOSTILE_REASON);
    expect(await judged.evaluate('document.querySelectorAll("img").length')).toBe(0);
    for (const p of [page, judged]) expect(await p.evaluate('typeof window.__xss')).toBe('undefined');
    // The server's own policy: only its script, only its origin.
    const res = await page.request.get(xss.url);
    expect(res.headers()['content-security-policy']).toContain("script-src 'self'");
    expect(problems).toEqual([]);
    await judged.close();
    await page.close();
  });

  it('pages through a large generated run by the journal index, forwards, backwards and to its end', async () => {
    const page = await open(big.url);
    expect(await page.locator('#status').innerText()).toBe(`rows 1–10 of ${ROWS.toLocaleString('en-US')}`);
    expect(await rowIds(page)).toEqual(Array.from({ length: 10 }, (_, i) => gen.id(i)));
    expect(await page.locator('#prev').isDisabled()).toBe(true);
    await page.click('#next');
    await ready(page);
    expect(await rowIds(page)).toEqual(Array.from({ length: 10 }, (_, i) => gen.id(10 + i)));
    await page.click('#prev');
    await ready(page);
    expect(await rowIds(page)).toEqual(Array.from({ length: 10 }, (_, i) => gen.id(i)));
    // The last page, opened by address; its answers are the ones recorded for those rows.
    const last = await open(`${big.url}?offset=${ROWS - 5}&limit=10`);
    expect(await rowIds(last)).toEqual(Array.from({ length: 5 }, (_, i) => gen.id(ROWS - 5 + i)));
    const fmt = (n: number) => n.toLocaleString('en-US');
    expect(await last.locator('#status').innerText()).toBe(`rows ${fmt(ROWS - 4)}–${fmt(ROWS)} of ${fmt(ROWS)}`);
    expect(await last.locator('#next').isDisabled()).toBe(true);
    const contents = await last.locator(`section.row td.answer[data-cell="${GEN_CELLS[1]}"] pre.content`).allInnerTexts();
    expect(contents).toEqual(Array.from({ length: 5 }, (_, i) => gen.content(ROWS - 5 + i, 1)));
    await last.close();
    await page.close();
  });

  it("links report.html's cells and failing choices into the viewer", async () => {
    const page = await context.newPage();
    await page.goto(`${xss.url}report.html`);
    await page.waitForSelector('body[data-ready="1"]', { timeout: 10_000 });
    const cellLink = page.locator('#cells-table a.view-link').first();
    const cell = await cellLink.innerText();
    expect(await cellLink.getAttribute('href')).toBe(`/?cell=${encodeURIComponent(cell)}`);
    await cellLink.click();
    await ready(page);
    expect(await page.locator('section.row').first().locator('table.answers thead th').allInnerTexts()).toEqual([cell]);
    await page.goto(`${xss.url}report.html`);
    await page.waitForSelector('body[data-ready="1"]', { timeout: 10_000 });
    const failing = page.locator('#failing-table tbody tr').first();
    const [failingCell, failingRow] = [await failing.locator('td').nth(0).innerText(), await failing.locator('td').nth(1).innerText()];
    await failing.locator('a.view-link').click();
    await ready(page);
    expect(await page.locator('section.row').getAttribute('data-row-id')).toBe(failingRow);
    expect(await page.locator('td.focus').getAttribute('data-cell')).toBe(failingCell);
    await page.close();
  });
});
