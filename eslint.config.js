// ESLint: type-aware rules that catch real bugs (floating promises above all) and the stage boundaries of src/.
// The boundary table is the one README "Development" describes; test/lint/boundaries.test.ts plants forbidden
// imports and checks that this config rejects them.
import tseslint from 'typescript-eslint';
import boundaries from 'eslint-plugin-boundaries';

/**
 * The stages of the pipeline (folders of src/) and the other stages each may import. The files at the top of src/
 * (runEval, prepareRun, the public index, bin) wire the stages together and may import any of them; no stage may
 * import those files back, except errors.ts, the error and exit-code contract every stage shares.
 */
export const STAGES = {
  contracts: [],
  util: [],
  stats: [],
  simulator: ['util'],
  check: ['contracts', 'util', 'plan'],
  record: ['contracts', 'util'],
  gate: ['contracts', 'util', 'stats', 'record', 'report'],
  plan: ['contracts', 'util', 'config', 'dataset'],
  dataset: ['contracts', 'util', 'config', 'plan'],
  // config checks `provider.simulator` against the simulator's own option names (the simulator imports nothing of ours).
  config: ['contracts', 'util', 'check', 'gate', 'plan', 'record', 'stats', 'dataset', 'simulator'],
  report: ['contracts', 'util', 'stats', 'record', 'gate', 'config', 'plan'],
  run: ['contracts', 'util', 'check', 'record', 'plan', 'config'],
  cli: ['contracts', 'util', 'report', 'plan', 'config', 'dataset', 'simulator', 'record', 'run'],
};

/** Top-of-src files a stage must never import: they import the stages, so importing them back makes a cycle. */
const ORCHESTRATION = ['run-eval', 'prepare-run', 'index', 'bin'].map((name) => `**/${name}.js`);

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
      'no-restricted-syntax': [
        'error',
        {
          selector: 'ImportDeclaration[source.value=/^(undici|openai)\\u002F(lib|src|internal|core)\\u002F/]',
          message: 'Use the package through its public entry points, not its internal files.',
        },
      ],
    },
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
          message: '{{from.type}} must not import {{to.type}} (README "Development" lists what each stage may import)',
          policies: Object.entries(STAGES).map(([from, allow]) => ({
            from: { element: { type: from } },
            allow: [from, ...allow].map((type) => ({ to: { element: { type } } })),
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
      'no-restricted-imports': ['error', { patterns: [{ group: ORCHESTRATION, message: 'A stage must not import the orchestration files at the top of src/ (they import the stages).' }] }],
    },
  },
);
