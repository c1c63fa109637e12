/**
 * The lint config must bite: a planted cross-stage import, an import of a use case or the entry from a stage, a
 * floating promise, a package-internal import and a spread-first literal on the per-request path are each
 * rejected. (`npm run lint` in CI checks the real tree.)
 */
import { ESLint } from 'eslint';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import tseslint from 'typescript-eslint';
import { beforeAll, describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/cli.js';

// The boundary and syntax rules need no type information: they run without it. The typed rules are checked on
// test/lint/planted/, a program of one file (its own tsconfig.json), not on the whole tree's program, which takes a
// busy machine most of a minute to build.
let typed: ESLint;
let untyped: ESLint;
beforeAll(() => {
  typed = new ESLint({ cwd: ROOT });
  untyped = new ESLint({ cwd: ROOT, overrideConfig: [{ files: ['**/*.ts'], ...tseslint.configs.disableTypeChecked }] });
});

/**
 * Lints `planted` as if it were the file at `file` (the path is what places it in a stage), or the file as it is when
 * nothing is planted. The planted lines alone, not appended to the real file: the file's own imports would be
 * resolved and matched again for every case, which was most of this test's time.
 */
async function ruleIds(file: string, planted: string, eslint: ESLint = untyped): Promise<string[]> {
  const text = planted ? `${planted}\n` : readFileSync(join(ROOT, file), 'utf8');
  const [result] = await eslint.lintText(text, { filePath: join(ROOT, file) });
  return result!.messages.map((m) => m.ruleId ?? m.message);
}

describe('the lint config', () => {
  it('accepts the files as they are', async () => {
    expect(await ruleIds('src/report/junit.ts', '')).toEqual([]);
    expect(await ruleIds('src/contracts/summary.ts', '')).toEqual([]);
    expect(await ruleIds('test/lint/planted/typed.ts', '', typed)).toEqual([]);
  });

  it('rejects a report module importing the executor (report may not depend on run)', async () => {
    expect(await ruleIds('src/report/junit.ts', "import { createHttpExecutor } from '../run/executor.js';\nexport const planted = createHttpExecutor;")).toContain('boundaries/dependencies');
  });

  it('rejects the run stage importing the simulator (the run reaches it only by URL)', async () => {
    expect(await ruleIds('src/run/executor.ts', "import { startSimulator } from '../simulator/index.js';\nexport const planted = startSimulator;")).toContain('boundaries/dependencies');
  });

  it('rejects config importing the report stage (config reads only contracts, util and the edges it must)', async () => {
    expect(await ruleIds('src/config/pick.ts', "import { summaryMarkdown } from '../report/markdown.js';\nexport const planted = summaryMarkdown;")).toContain('boundaries/dependencies');
  });

  it('rejects the old reaches between stages: check → plan, gate → report, dataset → config', async () => {
    expect(await ruleIds('src/check/checks.ts', "import { expandGrid } from '../plan/grid.js';\nexport const planted = expandGrid;")).toContain('boundaries/dependencies');
    expect(await ruleIds('src/gate/gates.ts', "import { extendCellStats } from '../report/cell-extras.js';\nexport const planted = extendCellStats;")).toContain('boundaries/dependencies');
    expect(await ruleIds('src/dataset/load.ts', "import { resolvePrompts } from '../config/prompts.js';\nexport const planted = resolvePrompts;")).toContain('boundaries/dependencies');
  });

  it('rejects the view stage reading the dataset or the config itself, or a record file past its index', async () => {
    const planted = [
      "import { readRows } from '../dataset/load.js';",
      "import { loadConfigFile } from '../config/load.js';",
      "import { indexJournal } from '../record/read-journal.js';",
      'export const planted = [readRows, loadConfigFile, indexJournal];',
    ].join('\n');
    const ids = await ruleIds('src/view/inputs.ts', planted);
    expect(ids.filter((id) => id === 'boundaries/dependencies')).toHaveLength(3);
  });

  it('rejects contracts importing a stage (every stage imports contracts)', async () => {
    expect(await ruleIds('src/contracts/checks.ts', "import type { CompiledCheck } from '../check/checks.js';\nexport type Planted = CompiledCheck;")).toContain('boundaries/dependencies');
  });

  it("rejects a stage reaching past another stage's index.ts, which is its one public entry", async () => {
    expect(await ruleIds('src/config/pick.ts', "import { paretoFrontier } from '../stats/frontier.js';\nexport const planted = paretoFrontier;")).toContain('boundaries/dependencies');
    expect(await ruleIds('src/config/pick.ts', "import { paretoFrontier } from '../stats/index.js';\nexport const planted = paretoFrontier;")).toEqual([]);
  });

  it('rejects a stage importing a use case, the CLI or the public entry back', async () => {
    expect(await ruleIds('src/report/junit.ts', "import { runEval } from '../app/run.js';\nexport const planted = runEval;")).toContain('boundaries/dependencies');
    expect(await ruleIds('src/report/html/data.ts', "import { runEval } from '../../index.js';\nexport const planted = runEval;")).toContain('boundaries/dependencies');
    expect(await ruleIds('src/run/executor.ts', "import { main } from '../cli/index.js';\nexport const planted = main;")).toContain('boundaries/dependencies');
    // errors.ts, the exit-code contract, is the one top-level file every layer may import.
    expect(await ruleIds('src/report/junit.ts', "import { ExitCode } from '../errors.js';\nexport const planted = ExitCode;")).toEqual([]);
  });

  it('rejects config importing the simulator (its option names are a contract, not a waiver)', async () => {
    expect(await ruleIds('src/config/pick.ts', "import { startSimulator } from '../simulator/index.js';\nexport const planted = startSimulator;")).toContain('boundaries/dependencies');
  });

  it("rejects the use cases, the CLI and the public entry reaching past a stage's index.ts (no waivers)", async () => {
    expect(await ruleIds('src/app/run.ts', "import { createHttpExecutor } from '../run/executor.js';\nexport const planted = createHttpExecutor;")).toContain('boundaries/dependencies');
    expect(await ruleIds('src/app/run.ts', "import { createHttpExecutor } from '../run/index.js';\nexport const planted = createHttpExecutor;")).toEqual([]);
    expect(await ruleIds('src/cli/commands/report.ts', "import { ReportPass } from '../../report/write-reports.js';\nexport const planted = ReportPass;")).toContain('boundaries/dependencies');
    expect(await ruleIds('src/index.ts', "import { Journal } from './record/journal.js';\nexport const planted = Journal;")).toContain('boundaries/dependencies');
  });

  it('accepts the CLI and the entry calling a use case file by file, and rejects the CLI past them', async () => {
    expect(await ruleIds('src/cli/commands/report.ts', "import { mergeRuns } from '../../app/merge.js';\nexport const planted = mergeRuns;")).toEqual([]);
    expect(await ruleIds('src/app/merge.ts', "import { main } from '../cli/index.js';\nexport const planted = main;")).toContain('boundaries/dependencies');
  });

  it('rejects a floating promise', { timeout: 120_000 }, async () => {
    const planted = 'export function planted(p: Promise<void>): void {\n  p.then(() => undefined);\n}';
    expect(await ruleIds('test/lint/planted/typed.ts', planted, typed)).toContain('@typescript-eslint/no-floating-promises');
    // The untyped linter the other cases use cannot see it: this case is what keeps the typed rules tested.
    expect(await ruleIds('test/lint/planted/typed.ts', planted)).not.toContain('@typescript-eslint/no-floating-promises');
  });

  it("rejects a package's internal file", async () => {
    expect(await ruleIds('src/run/http-fetch.ts', "import planted from 'undici/lib/dispatcher/agent.js';\nexport { planted };")).toContain('no-restricted-syntax');
  });

  it('rejects, on the per-request path only, a literal that starts with a spread and goes on with properties', async () => {
    const planted = 'export const planted = (o: object, n: number) => ({ ...o, n });';
    expect(await ruleIds('src/run/execute-task.ts', planted)).toContain('no-restricted-syntax');
    expect(await ruleIds('src/record/journal.ts', planted)).toContain('no-restricted-syntax');
    // A spread alone or last is not the pattern, and the package-internal rule still holds there.
    expect(await ruleIds('src/run/execute-task.ts', 'export const planted = (o: object, n: number) => [{ ...o }, { n, ...o }];')).toEqual([]);
    expect(await ruleIds('src/run/execute-task.ts', "import planted from 'openai/internal/utils.js';\nexport { planted };")).toContain('no-restricted-syntax');
    // Elsewhere (config, manifests: once per run) the literal reads better and costs nothing that matters.
    expect(await ruleIds('src/report/junit.ts', planted)).toEqual([]);
  });
});
