/**
 * `evalrun view` as a process and as a server: the URL it prints, loopback only, read-only, never the API key,
 * Ctrl-C stops it; a busy port, a directory that is not a run, a dataset that changed or went missing.
 * The page itself is tested in Chromium (test/browser/view.browser.test.ts).
 */
import { spawn } from 'node:child_process';
import { createServer, request } from 'node:http';
import { readdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { once } from 'node:events';
import { beforeAll, describe, expect, it } from 'vitest';
import { BIN, cleanEnv, runMain, STACK_LINE } from '../helpers/cli.js';
import { useTempDirs } from '../helpers/tmp.js';
import { makeXssRun } from '../browser/xss-fixture.js';
import { gen, makeGeneratedRun } from '../helpers/view-run.js';
import { openViewer } from '../../src/app/view.js';
import { ExitCode } from '../../src/errors.js';

const tempDir = useTempDirs();
const KEY = 'sk-canary-view-0123456789';
let xssDir = '';

beforeAll(async () => {
  xssDir = await makeXssRun(await tempDir('evalrun-view-e2e-'));
}, 30_000);

async function snapshot(dir: string): Promise<string[]> {
  const names = (await readdir(dir)).sort();
  return Promise.all(names.map(async (n) => `${n}:${(await stat(join(dir, n))).mtimeMs}:${(await stat(join(dir, n))).size}`));
}

function raw(url: string, options: { method?: string; host?: string }): Promise<number> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const req = request({ host: u.hostname, port: u.port, path: '/', method: options.method ?? 'GET', headers: options.host ? { host: options.host } : {} }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    req.end();
  });
}

describe('evalrun view', () => {
  it('prints a 127.0.0.1 URL, serves the run read-only without the API key, and stops on Ctrl-C', async () => {
    const before = await snapshot(xssDir);
    const child = spawn(process.execPath, [BIN, 'view', xssDir, '--port', '0'], { env: cleanEnv({ OPENAI_API_KEY: KEY }), stdio: ['ignore', 'pipe', 'pipe'] });
    const killer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    try {
      let out = '';
      child.stdout.setEncoding('utf8');
      while (!/Ctrl-C stops it/.test(out)) {
        const [chunk] = (await Promise.race([once(child.stdout, 'data'), once(child, 'close').then(() => [''])])) as [string];
        if (!chunk) throw new Error(`evalrun view exited early: ${out}`);
        out += chunk;
      }
      const url = /at (http:\/\/\S+\/)/.exec(out)![1]!;
      expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
      expect(out).toContain(`${url}report.html`);
      const cells = ((await (await fetch(`${url}api/run`)).json()) as { cells: Array<{ id: string }> }).cells;
      const bodies = await Promise.all(
        ['', 'app.js', 'app.css', 'api/run', 'api/rows?limit=100', `api/diff?row=0&a=${encodeURIComponent(cells[0]!.id)}&b=${encodeURIComponent(cells[1]!.id)}`, 'report.html'].map(async (p) => {
          const res = await fetch(url + p);
          expect(res.status, p).toBe(200);
          expect(res.headers.get('x-content-type-options')).toBe('nosniff');
          return res.text();
        }),
      );
      for (const b of bodies) expect(b).not.toContain(KEY);
      expect(JSON.parse(bodies[4]!).rows).toHaveLength(6);
      // Read-only, and only for requests addressed to 127.0.0.1 (not another site's name that resolves to it).
      expect(await raw(url, { method: 'POST' })).toBe(405);
      expect(await raw(url, { host: 'evil.example:80' })).toBe(403);
      const bad = await fetch(`${url}api/rows?cell=nope`);
      expect(bad.status).toBe(400);
      expect(((await bad.json()) as { error: string }).error).toBe("cell: no cell 'nope' in this run");
      child.kill('SIGINT');
      const [code] = (await once(child, 'close')) as [number];
      expect(code).toBe(0);
      expect(await snapshot(xssDir)).toEqual(before);
    } finally {
      clearTimeout(killer);
      child.kill('SIGKILL');
    }
  });

  it('shows the latest record of a request recorded twice, even when the page is asked for before the index pass ends', async () => {
    const dir = await makeGeneratedRun(await tempDir('evalrun-view-twice-'), 4000);
    const file = join(dir, 'records.jsonl');
    const first = JSON.parse((await readFile(file, 'utf8')).slice(0, 4000).split('\n')[0]!) as { choices: Array<{ content: string }> };
    first.choices[0]!.content = 'the answer recorded again, last in the file';
    await writeFile(file, `${JSON.stringify(first)}\n`, { flag: 'a' });
    const { viewer } = await openViewer(dir, 0, cleanEnv());
    try {
      const contents: string[] = [];
      const provisional: boolean[] = [];
      // Until the index pass ends (bounded in time, not in tries: a loaded machine indexes slower).
      for (const deadline = Date.now() + 20_000; Date.now() < deadline; ) {
        const page = (await (await fetch(`${viewer.url}api/rows?row=0`)).json()) as { provisional: boolean; rows: Array<{ answers: Array<{ choices: Array<{ content: string }> }> }> };
        contents.push(page.rows[0]!.answers[0]!.choices[0]!.content);
        provisional.push(page.provisional);
        if (!page.provisional) break;
        await new Promise((r) => setTimeout(r, 10));
      }
      // The last page came after the index pass ended, not at the deadline. (Whether the first came before it ended
      // depends on the machine's speed; test/unit covers the provisional page on its own.)
      expect(provisional.at(-1)).toBe(false);
      expect(contents.at(-1)).toBe('the answer recorded again, last in the file');
      const found = (await (await fetch(`${viewer.url}api/rows?q=recorded%20again`)).json()) as { total: number; rows: Array<{ id: string }> };
      expect(found.rows.map((r) => r.id)).toEqual([gen.id(0)]);
    } finally {
      await viewer.close();
    }
  });

  it('says which port is busy and how to choose another (exit code 2)', async () => {
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const port = (blocker.address() as { port: number }).port;
    try {
      const r = await runMain(['view', xssDir, '--port', String(port)]);
      expect(r.code).toBe(ExitCode.Usage);
      expect(r.stderr).toContain(`port ${port} on 127.0.0.1 is in use (another evalrun view?); choose another with --port N, or --port 0 for any free port`);
      expect(r.stderr).not.toMatch(STACK_LINE);
    } finally {
      blocker.close();
    }
  });

  it('asks for the run directory when none is given', async () => {
    const r = await runMain(['view']);
    expect(r.code).toBe(ExitCode.Usage);
    expect(r.stderr).toContain('Missing an argument: the run directory, e.g. evalrun view results/<run directory>');
  });

  it('refuses a journal that is not this run\'s, saying where (exit code 6), and serves nothing', async () => {
    const dir = await makeGeneratedRun(await tempDir('evalrun-view-corrupt-'), 5);
    await writeFile(join(dir, 'records.jsonl'), '{"v":1,"seq":999,"cell":"x"}\n', { flag: 'a' });
    const r = await runMain(['view', dir, '--port', '0']);
    expect(r.code).toBe(ExitCode.Output);
    expect(r.stderr).toMatch(/records\.jsonl:16: not a record of this run \(seq 999\)/);
  });

  it('refuses a directory that is not a run', async () => {
    const r = await runMain(['view', await tempDir('evalrun-view-empty-')]);
    expect(r.code).toBe(ExitCode.Output);
    expect(r.stderr).toMatch(/run\.json not found: '.*' is not an evalrun run directory/);
  });

  it('says when the dataset changed since the run, and marks a row whose id is not the one answered', async () => {
    const base = await tempDir('evalrun-view-changed-');
    const dir = await makeGeneratedRun(base, 30);
    const csv = await readFile(join(base, 'rows.csv'), 'utf8');
    await writeFile(join(base, 'rows.csv'), csv.replace(`${gen.id(2)},`, 'renamed,'));
    const { viewer, inputs } = await openViewer(dir, 0, cleanEnv());
    try {
      expect(inputs.notice).toMatch(/^the dataset \(.*rows\.csv\) changed since the run/);
      const info = (await (await fetch(`${viewer.url}api/run`)).json()) as { inputs_problem: string };
      expect(info.inputs_problem).toBe(inputs.notice);
      const page = (await (await fetch(`${viewer.url}api/rows?offset=1&limit=2`)).json()) as { rows: Array<{ id: string; input: { text: string }; input_note?: string }> };
      expect(page.rows[0]!.input_note).toBeUndefined();
      expect(page.rows[1]).toMatchObject({ id: gen.id(2), input: { text: gen.text(2) }, input_note: `the dataset's row 3 has id 'renamed', but the records answered row '${gen.id(2)}': the dataset changed since the run` });
    } finally {
      await viewer.close();
    }
  });

  it('without its dataset, shows the inputs failing requests recorded and says why the others are missing', async () => {
    const base = await tempDir('evalrun-view-gone-');
    const dir = await makeXssRun(base);
    await rename(join(base, 'rows.csv'), join(base, 'moved.csv'));
    const { viewer } = await openViewer(dir, 0, cleanEnv());
    try {
      const info = (await (await fetch(`${viewer.url}api/run`)).json()) as { inputs_problem: string };
      expect(info.inputs_problem).toMatch(/^the dataset .*rows\.csv is gone: inputs are shown only where a failing request recorded them$/);
      const page = (await (await fetch(`${viewer.url}api/rows?limit=10`)).json()) as { rows: Array<{ input_from: string | null; input: unknown }> };
      const records = (await readFile(join(dir, 'records.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as { row_id: string; input?: unknown });
      expect(page.rows.some((r) => r.input_from === 'record')).toBe(true);
      for (const r of page.rows) if (r.input_from === 'record') expect(records.some((x) => JSON.stringify(x.input) === JSON.stringify(r.input))).toBe(true);
    } finally {
      await viewer.close();
    }
  });
});
