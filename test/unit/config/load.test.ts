import { describe, expect, it } from 'vitest';
import { loadConfigFile, parseConfigText } from '../../../src/config/load.js';
import { ConfigError, ExitCode, type SourceIssue } from '../../../src/errors.js';
import { rejection } from '../../helpers/config.js';

/** The ConfigError a config text is rejected with. */
function configError(text: string, file = 'evalrun.yaml'): ConfigError {
  try {
    parseConfigText(text, file);
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return e as ConfigError;
  }
  throw new Error('expected the config to be rejected');
}

const where = (i: SourceIssue) => `${i.path}@${i.line}:${i.col}`;

describe('parseConfigText', () => {
  it('accepts a minimal config and keeps the data as written', () => {
    const loaded = parseConfigText('dataset: rows.csv\nparams:\n  model: gpt-4o-mini\n', 'evalrun.yaml');
    expect(loaded.file).toBe('evalrun.yaml');
    expect(loaded.data).toEqual({ dataset: 'rows.csv', params: { model: 'gpt-4o-mini' } });
    expect(loaded.at(['params', 'model'])).toEqual({ line: 3, col: 10 });
  });

  it('reports a YAML syntax error as a ConfigError (exit 3) at file:line:col', () => {
    const e = configError('dataset: rows.csv\nparams:\n  model: gpt: 4o\n  n: 1\n', 'cfg/evalrun.yaml');
    expect(e.exitCode).toBe(ExitCode.Config);
    expect(e.code).toBe('EVALRUN_CONFIG_SYNTAX');
    expect(e.issues[0]).toMatchObject({ file: 'cfg/evalrun.yaml', line: 3, col: 10 });
    expect(e.message).toMatch(/^cfg\/evalrun\.yaml:3:10: YAML syntax error: /);
  });

  it('locates a tab used as indentation on its own line', () => {
    const e = configError('dataset: rows.csv\n\tparams: {}\n');
    expect(e.message).toMatch(/^evalrun\.yaml:2:1: YAML syntax error: Tabs/);
  });

  it('rejects a key given twice, at the second occurrence', () => {
    const e = configError('dataset: a.csv\nparams:\n  model: x\ndataset: b.csv\n');
    expect(e.code).toBe('EVALRUN_CONFIG_SYNTAX');
    expect(e.issues[0]).toMatchObject({ line: 4, col: 1 });
    expect(e.message).toMatch(/unique/);
  });

  it("reports an unknown top-level key at the key's line with a 'did you mean' hint", () => {
    const e = configError('dataset: rows.csv\nparams:\n  model: gpt-4o-mini\nconcurency: 4\n');
    expect(e.exitCode).toBe(3);
    expect(e.issues).toHaveLength(1);
    expect(where(e.issues[0]!)).toBe('concurency@4:1');
    expect(e.message).toContain("unknown key 'concurency' (did you mean 'concurrency'?)");
    expect(e.message).toContain('allowed here: name, description, dataset');
  });

  it('hints nested unknown keys against that section\'s own keys', () => {
    const e = configError('dataset: rows.csv\nparams: { model: x }\nretry:\n  max_attempt: 3\n');
    expect(where(e.issues[0]!)).toBe('retry.max_attempt@4:3');
    expect(e.message).toContain("(did you mean 'max_attempts'?)");
    expect(e.message).toContain('allowed here: max_attempts, max_wait_s');
  });

  it('reports every out-of-range value at once, each with its path and line', () => {
    const text = [
      'dataset: rows.csv', //                1
      'params:', //                          2
      '  model: gpt-4o-mini', //             3
      '  temperature: 2.5', //               4
      '  top_p: 1.5', //                     5
      'grid:', //                            6
      '  temperature: [0.5, 2.5]', //        7
      '  n: 0', //                           8
      'concurrency: 0', //                   9
    ].join('\n');
    const e = configError(text);
    expect(e.exitCode).toBe(3);
    expect(e.issues.map(where).sort()).toEqual(
      ['params.temperature@4:16', 'params.top_p@5:10', 'grid.temperature.1@7:22', 'grid.n@8:6', 'concurrency@9:14'].sort(),
    );
    const lines = e.message.split('\n');
    expect(lines).toHaveLength(5);
    expect(lines).toContain('evalrun.yaml:7:22 grid.temperature.1: must be <= 2');
    expect(lines).toContain('evalrun.yaml:4:16 params.temperature: must be <= 2');
    expect(lines).toContain('evalrun.yaml:5:10 params.top_p: must be <= 1');
    expect(lines).toContain('evalrun.yaml:8:6 grid.n: must be >= 1');
    expect(lines).toContain('evalrun.yaml:9:14 concurrency: must be >= 1');
  });

  it('names a scalar grid axis without an element index', () => {
    const e = configError('dataset: rows.csv\ngrid:\n  model: gpt-4o-mini\n  top_p: 3\n');
    expect(e.issues.map(where)).toEqual(['grid.top_p@4:10']);
  });

  it('requires a dataset', () => {
    const e = configError('params:\n  model: gpt-4o-mini\n');
    expect(e.message).toContain("missing required key 'dataset'");
  });

  it('gives one readable message for a value matching no form of an anyOf key', () => {
    const e = configError('dataset: 42\nparams: { model: x }\n');
    expect(e.issues).toHaveLength(1);
    expect(e.message).toBe('evalrun.yaml:1:10 dataset: must be a file path, { path, encoding }, or a list of them');
  });

  it('reports the provider mapping\'s own unknown key rather than every anyOf branch', () => {
    const e = configError('dataset: a.csv\nparams: { model: x }\nprovider:\n  base_ur: http://localhost:8000/v1\n');
    expect(e.issues).toHaveLength(1);
    expect(where(e.issues[0]!)).toBe('provider.base_ur@4:3');
    expect(e.message).toContain("(did you mean 'base_url'?)");
  });

  it('rejects a document that is not a mapping', () => {
    const e = configError('- dataset: a.csv\n');
    expect(e.message).toContain('must be a YAML mapping');
  });
});

describe('loadConfigFile', () => {
  it('reads and parses a YAML file, keeping the path as given for messages', async () => {
    const loaded = await loadConfigFile('datasets/demo/evalrun.yaml');
    expect(loaded.file).toBe('datasets/demo/evalrun.yaml');
    expect(loaded.data.name).toBe('support-triage');
  });

  it('reports a missing config file as a ConfigError (exit 3)', async () => {
    const e = await rejection(loadConfigFile('no/such/evalrun.yaml'));
    expect(e).toBeInstanceOf(ConfigError);
    expect(e['exitCode']).toBe(3);
    expect(e['code']).toBe('EVALRUN_CONFIG_MISSING');
    expect(e.message).toBe('no/such/evalrun.yaml: file not found');
  });

  it('reads the evalrun.yaml inside a directory given as the config', async () => {
    const loaded = await loadConfigFile('datasets/demo');
    expect(loaded.file).toBe('datasets/demo/evalrun.yaml');
    expect(loaded.data.name).toBe('support-triage');
  });

  it('reports a directory with no evalrun.yaml in it', async () => {
    const e = await rejection(loadConfigFile('test'));
    expect(e.message).toBe('test/evalrun.yaml: file not found');
  });
});
