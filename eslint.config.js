// ESLint: type-aware rules that catch real bugs (floating promises above all) and the stage boundaries of src/.
// The boundary table is the one README "Development" describes; test/lint/boundaries.test.ts plants forbidden
// imports and checks that this config rejects them.
import tseslint from 'typescript-eslint';
import boundaries from 'eslint-plugin-boundaries';

/**
 * The stages of the pipeline (folders of src/) and the other stages each may import. The use cases in app/ (run,
 * cancel, prepare, merge, regrade, history, the viewer's opening, the endpoint) wire the stages together and may
 * import any of them; the CLI calls the use cases and formats what the stages return; the public entry (src/index.ts,
 * bin.ts) exports both. No stage imports app, cli or the entry back. errors.ts, the error and exit-code contract, is
 * imported by every layer. What several stages share (the resolved Config, check and gate specs, summary.json's
 * shape, prices, the prompt template, rows, cells and tasks, the simulator's option names) lives in contracts/, which
 * every stage may import; an edge between two stages below is one the stage genuinely needs, and says why
 * (docs/decisions.md "Stage boundaries").
 */
export const STAGES = {
  // Summary's comparison rows and pick costs are stats' own types; stats imports nothing of ours, so no cycle.
  contracts: ['stats', 'util', 'errors'],
  util: ['errors'],
  // Pure numbers and the metric definitions (names, directions) that config checks, report computes and gate judges.
  stats: [],
  simulator: ['contracts', 'util', 'errors'],
  check: ['contracts', 'util', 'errors'],
  record: ['contracts', 'util', 'errors'],
  gate: ['contracts', 'util', 'stats', 'errors'],
  plan: ['contracts', 'util', 'errors'],
  dataset: ['contracts', 'util', 'errors'],
  config: [
    'contracts', 'util', 'stats', 'errors',
    // A `schema:` is compiled by the very Ajv setup that grades answers, so config rejects what check could not run.
    'check',
    // Gate and baseline cell globs are checked against the cell ids the grid will make: one grid expansion, not two.
    'plan',
  ],
  // `evalrun report DIR` and `compare` rebuild summary.json, gates included, from the run directory alone.
  report: ['contracts', 'util', 'stats', 'record', 'gate', 'errors'],
  // run grades each answer as it arrives (check) and journals it (record); it reads the plan's Cell and Task.
  run: ['contracts', 'util', 'check', 'record', 'plan', 'errors'],
  // `evalrun view DIR` reads a run directory's journal (record) and serves it; the dataset rows come from app.
  view: ['contracts', 'util', 'record', 'errors'],
  // The use cases: the one layer that may import every stage.
  app: ['contracts', 'util', 'stats', 'simulator', 'check', 'record', 'gate', 'plan', 'dataset', 'config', 'report', 'run', 'view', 'errors'],
  // The CLI parses arguments, calls the use cases and formats what any stage returns.
  cli: ['app', 'contracts', 'util', 'report', 'plan', 'config', 'dataset', 'simulator', 'record', 'run', 'view', 'errors'],
  // The files at the top of src/: index.ts (the library API), bin.ts, and errors.ts.
  top: ['app', 'cli', 'contracts', 'util', 'stats', 'check', 'record', 'gate', 'plan', 'dataset', 'config', 'report', 'simulator'],
};

/**
 * Each stage's one public entry is its index.ts: another layer imports it through that file, never a file inside
 * it. contracts and util are libraries of small modules, imported file by file; so is app, one file per use case,
 * so that a command loads its own use case and not the others'.
 */
const FILE_BY_FILE = ['contracts', 'util', 'app'];

function allowed(from, to) {
  if (to === 'errors') return { to: { element: { type: 'top', fileInternalPath: ['errors.ts'] } } };
  if (to === from || FILE_BY_FILE.includes(to)) return { to: { element: { type: to } } };
  return { to: { element: { type: to, fileInternalPath: ['index.ts'] } } };
}

/**
 * The layers the table knows: a folder of src/ each, and `top`, the files at the top of src/ (errors.ts, which every
 * layer may import, and the public entry, index.ts and bin.ts, which none may).
 */
const ELEMENTS = [
  ...Object.keys(STAGES).filter((type) => type !== 'top').map((type) => ({ type, pattern: `src/${type}` })),
  { type: 'top', pattern: 'src/*.ts', mode: 'file' },
];

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
    files: ['src/**/*.ts'],
    plugins: { boundaries },
    settings: {
      'boundaries/include': ['src/**/*.ts'],
      'boundaries/elements': ELEMENTS,
      // `top` is the one element made of single files (mode 'file'); v7 warns on the option but still honours it.
      'boundaries/legacy-warnings': false,
      'import/resolver': { typescript: { alwaysTryTypes: true } },
    },
    rules: {
      'boundaries/dependencies': [
        'error',
        {
          default: 'disallow',
          message: '{{from.type}} must not import {{to.type}}, or only through its index.ts (README "Development" lists what each layer may import)',
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
);
