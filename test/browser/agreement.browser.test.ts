/**
 * report.html's "Agreement with people" section in a real browser (Debian's Chromium via playwright-core): the table
 * is drawn from the page's data, pooled row first, with no page errors.
 */
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { available, launchChromium, noteIfSkipped, required } from './chromium.js';
import { useTempDirs, writeTree } from '../helpers/tmp.js';
import { runEval } from '../../src/app/run.js';

const tempDir = useTempDirs();
noteIfSkipped('report.html agreement');

let browser: Browser;
let url = '';

beforeAll(async () => {
  if (!available && !required) return;
  const dir = await tempDir('evalrun-browser-agreement-');
  await writeTree(dir, {
    'rows.csv': 'id,text,human,bot\nr1,a,pass,pass\nr2,b,fail,fail\nr3,c,pass,fail\nr4,d,fail,fail\nr5,e,,pass\n',
    'judge.mjs': "export default ({ row }) => row.bot === 'pass';\n",
    'evalrun.yaml': `name: agreement
dataset: rows.csv
id_column: id
messages:
  - { role: user, content: "x {{text}}" }
params: { model: gpt-4o-mini, max_tokens: 20 }
grid:
  temperature: [0, 1]
provider: simulator
checks:
  - { name: judge, type: script, module: judge.mjs, human: { column: human } }
`,
  });
  await runEval({ config: join(dir, 'evalrun.yaml'), out: join(dir, 'run') });
  url = pathToFileURL(join(dir, 'run', 'report.html')).href;
  browser = await launchChromium();
}, 30_000);

afterAll(async () => {
  await browser?.close();
});

describe.skipIf(!available && !required)('report.html agreement section', () => {
  it('shows κ per check, all cells first, then each cell', async () => {
    const page = await browser.newPage();
    const problems: string[] = [];
    page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
    await page.goto(url);
    await page.waitForSelector('body[data-ready="1"]', { timeout: 10_000 });
    const rows = (await page.evaluate(`[...document.querySelectorAll('#agreement tbody tr')].map((r) => [...r.children].map((c) => c.textContent.trim()))`)) as string[][];
    // Each cell: labels fail, fail, pass, pass against verdicts fail, fail, fail, pass → [[2, 0], [1, 1]], n = 4:
    // p_o = 3/4, p_e = (2·3 + 2·1)/16 = 1/2, κ = 0.5; pooled, the same table doubled: κ 0.5 too.
    expect(rows.map((r) => [r[0], r[1], r[2]!.split(' ')[0], r[3], r[4]])).toEqual([
      ['judge_kappa', 'all cells', '0.500', '8', '0'],
      ['judge_kappa', 'gpt-4o-mini/t0', '0.500', '4', '0'],
      ['judge_kappa', 'gpt-4o-mini/t1', '0.500', '4', '0'],
    ]);
    expect(await page.locator('#agreement h2').innerText()).toBe('Agreement with people');
    expect(problems).toEqual([]);
    await page.close();
  });
});
