// ESLint: type-aware rules that catch real bugs (floating promises above all) and the stage boundaries of src/.
// The boundary table is the one README "Development" describes; test/lint/boundaries.test.ts plants forbidden
// imports and checks that this config rejects them.
import tseslint from 'typescript-eslint';
import boundaries from 'eslint-plugin-boundaries';

/**
 * The stages of the pipeline (folders of src/) and the other stages each may import. The files at the top of src/
 * (runEval, prepareRun, the public index, bin) wire the stages together and may import any of them; no stage may
 * import those files back, except errors.ts, the error and exit-code contract every stage shares. What several
 * stages share (the resolved Config, check and gate specs, summary.json's shape, prices, the prompt template, rows,
 * cells and tasks) lives in contracts/, which every stage may import; an edge between two stages below is one the
 * stage genuinely needs, and says why (docs/decisions.md "Stage boundaries").
 */
export const STAGES = {
  // Summary's comparison rows and pick costs are stats' own types; stats imports nothing of ours, so no cycle.
  contracts: ['stats'],
  util: [],
  // Pure numbers and the metric definitions (names, directions) that config checks, report computes and gate judges.
  stats: [],
  simulator: ['util'],
  check: ['contracts', 'util'],
  record: ['contracts', 'util'],
  gate: ['contracts', 'util', 'stats'],
  plan: ['contracts', 'util'],
  dataset: ['contracts', 'util'],
  config: [
    'contracts', 'util', 'stats',
    // A `schema:` is compiled by the very Ajv setup that grades answers, so config rejects what check could not run.
    'check',
    // Gate and baseline cell globs are checked against the cell ids the grid will make: one grid expansion, not two.
    'plan',
    // `provider.simulator` is checked against the simulator's own option names (the simulator imports nothing of ours).
    'simulator',
  ],
  // `evalrun report DIR` and `compare` rebuild summary.json, gates included, from the run directory alone.
  report: ['contracts', 'util', 'stats', 'record', 'gate'],
  // run grades each answer as it arrives (check) and journals it (record); it reads the plan's Cell and Task.
  run: ['contracts', 'util', 'check', 'record', 'plan'],
  // `evalrun view DIR` reads a run directory's journal (record) and serves it; the dataset rows come from the CLI.
  view: ['contracts', 'util', 'record'],
  // The CLI sits above the orchestration (it calls runEval) and formats what any stage returns.
  cli: ['contracts', 'util', 'report', 'plan', 'config', 'dataset', 'simulator', 'record', 'run', 'view'],
};

/**
 * Each stage's one public entry is its index.ts: another stage imports it through that file, never a file inside it.
 * contracts and util are libraries of small modules, imported file by file. run and cli still import stages' files
 * directly (they are being reworked for the Batch executor; they move to the entries after it lands). config reads
 * the simulator's option names from their own module: the simulator's entry loads its server and json-schema-faker,
 * which a config load must not pay for.
 */
const FILE_BY_FILE = ['contracts', 'util'];
const DEEP_IMPORTS = { run: '*', cli: '*', config: { simulator: ['options.ts'] } };

function allowed(from, to) {
  if (to === from || FILE_BY_FILE.includes(to) || DEEP_IMPORTS[from] === '*') return { to: { element: { type: to } } };
  return { to: { element: { type: to, fileInternalPath: ['index.ts', ...(DEEP_IMPORTS[from]?.[to] ?? [])] } } };
}

/** Top-of-src files a stage must never import: they import the stages, so importing them back makes a cycle. */
const ORCHESTRATION = ['run-eval', 'prepare-run', 'bin'].map((name) => `**/${name}.js`);
/** The public index at the top of src/ (a stage's own index.ts, its entry, is `./index.js` or `../<stage>/index.js`). */
const TOP_INDEX = '^(\\.\\./)+index\\.js$';
const ORCHESTRATION_MESSAGE = 'A stage must not import the orchestration files at the top of src/ (they import the stages).';

const PACKAGE_INTERNALS = {
  selector: 'ImportDeclaration[source.value=/^(undici|openai)\\u002F(lib|src|internal|core)\\u002F/]',
  message: 'Use the package through its public entry points, not its internal files.',
};
/**
 * On Node 20 (V8 11.3) an object literal that starts with a spread and goes on with properties of its own gets a new
 * hidden class for every object it builds: per record that cost ~3 KB of allocation that survived into the old
 * generation, a third of a batch run's CPU and ~10 MB of its peak (test/bench/RESULTS.md, third session).
 */
const SPREAD_THEN_PROPERTIES = {
  selector: 'ObjectExpression:has(> SpreadElement:first-child):has(> Property)',
  message: 'On the per-request path, write Object.assign({}, source, { ...properties }) instead of { ...source, property }: on Node 20 the literal builds a new hidden class per object.',
};

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'results/**', 'test/bench/**', '.bench/**', 'coverage/**', 'test/fixtures/**'] },
  {
    files: ['**/*.ts'],
    extends: [tseslint.configs.base],
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: { arguments: false } }],
      '@typescript-eslint/await-thenable': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': ['error', { disallowTypeAnnotations: false }],
      'no-restricted-syntax': ['error', PACKAGE_INTERNALS],
    },
  },
  {
    // The per-request path: what runs once per request or choice.
    files: ['src/run/**/*.ts', 'src/plan/**/*.ts', 'src/check/**/*.ts', 'src/record/**/*.ts'],
    rules: { 'no-restricted-syntax': ['error', PACKAGE_INTERNALS, SPREAD_THEN_PROPERTIES] },
  },
  {
    files: ['src/*/**/*.ts'],
    plugins: { boundaries },
    settings: {
      'boundaries/include': ['src/*/**/*.ts'],
      'boundaries/elements': Object.keys(STAGES).map((type) => ({ type, pattern: `src/${type}` })),
      'import/resolver': { typescript: { alwaysTryTypes: true } },
    },
    rules: {
      'boundaries/dependencies': [
        'error',
        {
          default: 'disallow',
          message: '{{from.type}} must not import {{to.type}}, or only through its index.ts (README "Development" lists what each stage may import)',
          policies: Object.entries(STAGES).map(([from, allow]) => ({
            from: { element: { type: from } },
            allow: [from, ...allow].map((to) => allowed(from, to)),
          })),
        },
      ],
      // Every file under a stage folder belongs to a stage the table knows.
      'boundaries/no-unknown-files': 'error',
    },
  },
  {
    // The CLI is the one stage above the orchestration: it calls runEval.
    files: ['src/*/**/*.ts'],
    ignores: ['src/cli/**'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { group: ORCHESTRATION, message: ORCHESTRATION_MESSAGE },
            { regex: TOP_INDEX, message: ORCHESTRATION_MESSAGE },
          ],
        },
      ],
    },
  },
);
