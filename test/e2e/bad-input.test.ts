/**
 * Bad input stops evalrun before anything is sent or written: the right exit code, a message that says where
 * (file:line[:col]), what and what to do, no stack trace, and no run directory.
 */
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { cleanEnv, runCli, runMain, STACK_LINE, type CliResult } from '../helpers/cli.js';
import { useTempDirs, writeTree } from '../helpers/tmp.js';

const FIXTURES = fileURLToPath(new URL('../fixtures/', import.meta.url));
const tempDir = useTempDirs();

const goodCsv = 'ticket_id,subject\nT-1,first\nT-2,second\n';
const header = (dataset: string, extra = '') =>
  `dataset: ${dataset}\n${extra}messages:\n  - role: user\n    content: "{{subject}}"\nparams:\n  model: gpt-4o-mini\nprovider: simulator\n`;

interface Case {
  dir: string;
  config: string;
  out: string;
  result: CliResult;
}

/** Write the files into a fresh dir, run `evalrun run evalrun.yaml --out <dir>/run` in-process. */
async function runCase(files: Record<string, string>, extraArgs: string[] = [], env?: NodeJS.ProcessEnv): Promise<Case> {
  const dir = await tempDir('evalrun-bad-');
  await writeTree(dir, files);
  const config = join(dir, 'evalrun.yaml');
  const out = join(dir, 'run');
  const result = await runMain(['run', config, '--out', out, '--quiet', ...extraArgs], env);
  return { dir, config, out, result };
}

/** What every bad-input case shares: exit code, nothing on stdout, no stack, no run directory. */
function expectRefused(c: Case, code: number): string[] {
  expect(c.result.code, c.result.stderr).toBe(code);
  expect(c.result.stdout).toBe('');
  expect(c.result.stderr).not.toMatch(STACK_LINE);
  expect(c.result.stderr).not.toContain('internal error');
  expect(existsSync(c.out)).toBe(false);
  return c.result.stderr.trimEnd().split('\n');
}

describe('evalrun run with bad input', () => {
  it('YAML syntax error → exit 3 at file:line:col', async () => {
    const c = await runCase({ 'evalrun.yaml': 'dataset: rows.csv\nparams:\n  model: gpt-4o-mini: x\n', 'rows.csv': goodCsv });
    const lines = expectRefused(c, 3);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(new RegExp(`^${c.config}:3:\\d+: YAML syntax error: \\S`));
  });

  it("unknown key → exit 3 at the key's line, with 'did you mean' and the allowed keys", async () => {
    const c = await runCase({ 'evalrun.yaml': `${header('rows.csv')}concurency: 4\n`, 'rows.csv': goodCsv });
    const [line, ...rest] = expectRefused(c, 3);
    expect(rest).toEqual([]);
    expect(line).toMatch(new RegExp(`^${c.config}:8:1 concurency: unknown key 'concurency' \\(did you mean 'concurrency'\\?\\); allowed here: .*concurrency`));
  });

  it('out-of-range values → exit 3, every one reported at once with its path and line', async () => {
    const yaml = [
      'dataset: rows.csv',
      'messages: [{ role: user, content: "{{subject}}" }]',
      'params:',
      '  model: gpt-4o-mini',
      '  temperature: 2.5',
      '  top_p: 1.5',
      'grid:',
      '  temperature: [0.5, 2.5]',
      '  n: 0',
      'concurrency: 0',
      'provider: simulator',
    ].join('\n');
    const c = await runCase({ 'evalrun.yaml': yaml, 'rows.csv': goodCsv });
    const lines = expectRefused(c, 3);
    expect(lines.sort()).toEqual(
      [
        `${c.config}:5:16 params.temperature: must be <= 2`,
        `${c.config}:6:10 params.top_p: must be <= 1`,
        `${c.config}:8:22 grid.temperature.1: must be <= 2`,
        `${c.config}:9:6 grid.n: must be >= 1`,
        `${c.config}:10:14 concurrency: must be >= 1`,
      ].sort(),
    );
  });

  it('missing dataset file → exit 4, naming the resolved path and how paths resolve', async () => {
    const c = await runCase({ 'evalrun.yaml': header('data/rows.csv') });
    const lines = expectRefused(c, 4);
    expect(lines).toEqual([`${join(c.dir, 'data/rows.csv')}: dataset file not found (paths in the config are relative to the config file)`]);
  });

  it('empty dataset → exit 4', async () => {
    const c = await runCase({ 'evalrun.yaml': header('rows.csv'), 'rows.csv': 'ticket_id,subject\n' });
    expect(expectRefused(c, 4)).toEqual([`${join(c.dir, 'rows.csv')}: the dataset has no rows`]);
  });

  it('ragged CSV row → exit 4 at file:line, suggesting to quote fields with commas', async () => {
    const c = await runCase({ 'evalrun.yaml': header('rows.csv'), 'rows.csv': 'ticket_id,subject\nT-1,fine\nT-2,Refund, please\nT-3,fine\n' });
    const lines = expectRefused(c, 4);
    expect(lines).toEqual([`${join(c.dir, 'rows.csv')}:3: this row has 3 fields but the header has 2; quote fields that contain commas ("a, b")`]);
  });

  it('bad JSONL line → exit 4 at file:line', async () => {
    const c = await runCase({ 'evalrun.yaml': header('rows.jsonl'), 'rows.jsonl': '{"subject": "ok"}\n{"subject": "oops",}\n' });
    const lines = expectRefused(c, 4);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(new RegExp(`^${join(c.dir, 'rows.jsonl')}:2: not valid JSON: `));
  });

  it('duplicate ids → exit 4 at the second occurrence, naming the first', async () => {
    const c = await runCase({ 'evalrun.yaml': header('rows.csv', 'id_column: ticket_id\n'), 'rows.csv': 'ticket_id,subject\nT-1,a\nT-2,b\nT-1,c\n' });
    expect(expectRefused(c, 4)).toEqual([
      `${join(c.dir, 'rows.csv')}:4 row T-1: duplicate id 'T-1' (first seen on line 2); values in the id column 'ticket_id' must be unique`,
    ]);
  });

  it('a {{var}} a row lacks → exit 4, naming the row, the variable and the columns it has', async () => {
    const c = await runCase({ 'evalrun.yaml': header('rows.jsonl', 'id_column: id\n'), 'rows.jsonl': '{"id": "a", "subject": "s"}\n{"id": "b", "title": "t"}\n' });
    expect(expectRefused(c, 4)).toEqual([
      `${join(c.dir, 'rows.jsonl')}:2 row b: the template uses {{subject}} but this row has no 'subject' (it has: id, title)`,
    ]);
  });

  it('invalid JSON Schema file → exit 3 with ajv\'s message', async () => {
    const schema = await readFile(join(FIXTURES, 'schemas/invalid-type.schema.json'), 'utf8');
    const c = await runCase({
      'evalrun.yaml': `${header('rows.csv')}schema: triage.schema.json\n`,
      'rows.csv': goodCsv,
      'triage.schema.json': schema,
    });
    const lines = expectRefused(c, 3);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(new RegExp(`^${c.config}:8:9 schema: triage\\.schema\\.json is not a valid JSON Schema: .*data/type must be equal to one of the allowed values`));
  });

  it('no API key for a real provider → exit 5, naming OPENAI_API_KEY and suggesting --simulate', async () => {
    const env = cleanEnv();
    expect(env['OPENAI_API_KEY']).toBeUndefined();
    expect(env['OPENAI_BASE_URL']).toBeUndefined();
    const c = await runCase({ 'evalrun.yaml': header('rows.csv').replace('provider: simulator\n', ''), 'rows.csv': goodCsv }, [], env);
    const lines = expectRefused(c, 5);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain('OPENAI_API_KEY is not set');
    expect(lines[0]).toContain('export OPENAI_API_KEY=sk-...');
    expect(lines[0]).toContain('--simulate');
  });

  it('--out pointing at an existing run → refused (exit 6), the run left byte-identical', async () => {
    // the first run of the case is a good one: it makes the run directory
    const c = await runCase({ 'evalrun.yaml': header('rows.csv'), 'rows.csv': goodCsv });
    expect(c.result.code).toBe(0);
    const names = (await readdir(c.out)).sort();
    const before = await Promise.all(names.map((n) => readFile(join(c.out, n))));
    const again = await runMain(['run', c.config, '--out', c.out, '--quiet']);
    expect(again.code).toBe(6);
    expect(again.stdout).toBe('');
    expect(again.stderr).not.toMatch(STACK_LINE);
    expect(again.stderr.trimEnd()).toBe(`${c.out} already holds a run; evalrun never overwrites results. Continue it with --resume, or choose another --out.`);
    expect((await readdir(c.out)).sort()).toEqual(names);
    const after = await Promise.all(names.map((n) => readFile(join(c.out, n))));
    for (const [i, name] of names.entries()) expect(after[i]!.equals(before[i]!), name).toBe(true);
  });

  it('unknown CLI flag → exit 2 with usage help pointer', async () => {
    const c = await runCase({ 'evalrun.yaml': header('rows.csv'), 'rows.csv': goodCsv }, ['--concurency', '4']);
    const lines = expectRefused(c, 2);
    expect(lines).toEqual(['Unknown option --concurency (did you mean --concurrency?)', "Run 'evalrun --help' for usage."]);
  });

  it('a numeric option given a word → exit 2 naming the option and the value', async () => {
    const c = await runCase({ 'evalrun.yaml': header('rows.csv'), 'rows.csv': goodCsv }, ['--concurrency', 'abc']);
    expect(expectRefused(c, 2)).toEqual(["--concurrency must be a number (got 'abc')", "Run 'evalrun --help' for usage."]);
    const grace = await runCase({ 'evalrun.yaml': header('rows.csv'), 'rows.csv': goodCsv }, ['--grace-s=soon']);
    expect(expectRefused(grace, 2)[0]).toBe("--grace-s must be a number (got 'soon')");
  });
});

describe('the built CLI with bad input', () => {
  it('prints the message without a stack trace and exits with the same code', async () => {
    const dir = await tempDir('evalrun-bad-');
    await writeTree(dir, { 'evalrun.yaml': header('rows.csv'), 'rows.csv': 'ticket_id,subject\nT-1,a,b\n' });
    const out = join(dir, 'run');
    const r = await runCli(['run', join(dir, 'evalrun.yaml'), '--out', out]);
    expect(r.code).toBe(4);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain(`${join(dir, 'rows.csv')}:2: this row has 3 fields but the header has 2`);
    expect(r.stderr).not.toMatch(STACK_LINE);
    expect(existsSync(out)).toBe(false);
  });

  it('plan exits at once when it ends early: the tokenizer worker it starts up front does not hold the process', async () => {
    const bad = await runCli(['plan', join(FIXTURES, 'configs/sim-json.yaml'), '--bogus'], { timeoutMs: 8_000 });
    expect(bad.code).toBe(2);
    const help = await runCli(['plan', '--help'], { timeoutMs: 8_000 });
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('evalrun plan <config>');
  });
});

describe('the CLI with bad usage', () => {
  it("names an option given to a command that lacks it, rather than suggesting the same name", async () => {
    const r = await runMain(['report', join(FIXTURES, 'configs'), '--quiet']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^Unknown option --quiet \(an option of other commands, not of 'report'; see evalrun report --help\)$/m);
    expect(r.stderr).not.toContain('did you mean --quiet');
  });

  it('rejects an unknown flag with exit 2', async () => {
    const r = await runMain(['run', join(FIXTURES, 'configs/sim-json.yaml'), '--bogus']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^Unknown option --bogus$/m);
    expect(r.stderr).not.toMatch(STACK_LINE);
  });

  it('an unknown command or a stray argument is named as such (exit 2), not as an unknown option', async () => {
    const typo = await runMain(['rnu', 'x.yaml']);
    expect(typo.code).toBe(2);
    expect(typo.stderr).toMatch(/^Unknown command 'rnu' \(did you mean 'run'\?\); the commands are run, plan, report, regrade, compare, merge, cancel, simulate$/m);
    const extra = await runMain(['run', 'a.yaml', 'b.yaml']);
    expect(extra.code).toBe(2);
    expect(extra.stderr).toMatch(/^Unexpected extra argument 'b\.yaml'$/m);
  });
});
