// ESLint: type-aware rules that catch real bugs (floating promises above all) and the stage boundaries of src/.
// The boundary table is the one README "Development" describes; test/lint/boundaries.test.ts plants a forbidden
// import and checks that this config rejects it.
import tseslint from 'typescript-eslint';
import boundaries from 'eslint-plugin-boundaries';

/** Stages of the pipeline (folders of src/) and what each may import besides itself. */
export const STAGES = {
  contracts: [],
  util: [],
  errors: [],
  stats: [],
  simulator: ['util'],
  check: ['contracts', 'util', 'errors'],
  config: ['contracts', 'util', 'errors', 'check', 'gate', 'plan', 'record', 'stats'],
  dataset: ['contracts', 'util', 'errors', 'config', 'plan'],
  plan: ['contracts', 'util', 'errors', 'config', 'dataset'],
  record: ['contracts', 'util', 'errors'],
  gate: ['contracts', 'util', 'errors', 'stats', 'record', 'report'],
  report: ['contracts', 'util', 'errors', 'stats', 'record', 'gate', 'config', 'plan'],
  run: ['contracts', 'util', 'errors', 'check', 'record', 'plan', 'config'],
  orchestration: ['contracts', 'util', 'errors', 'config', 'dataset', 'plan', 'run', 'check', 'record', 'report', 'gate', 'stats', 'simulator'],
  cli: ['orchestration', 'contracts', 'util', 'errors', 'report', 'plan', 'config', 'simulator'],
};

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'results/**', 'test/bench/**', '.bench/**', 'coverage/**'] },
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
      '@typescript-eslint/consistent-type-imports': 'error',
      'no-restricted-syntax': [
        'error',
        {
          selector: "ImportDeclaration[source.value=/^(undici|openai)\\u002F(lib|src|internal)\\u002F/]",
          message: 'Use the package through its public entry points, not its internal files.',
        },
      ],
    },
  },
  {
    files: ['src/**/*.ts'],
    plugins: { boundaries },
    settings: {
      'boundaries/include': ['src/**/*.ts'],
      'boundaries/elements': [
        ...Object.keys(STAGES)
          .filter((s) => s !== 'orchestration')
          .map((type) => ({ type, pattern: `src/${type}` })),
        // The files at the top of src/ (runEval, prepareRun, the public index, errors) wire the stages together.
        { type: 'orchestration', pattern: 'src', partialMatch: false },
      ],
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
      'boundaries/no-unknown-files': 'error',
    },
  },
);
