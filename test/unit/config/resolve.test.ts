import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfigFile, parseConfigText } from '../../../src/config/load.js';
import { resolveConfig } from '../../../src/config/resolve.js';
import { ConfigError, type SourceIssue } from '../../../src/errors.js';

const CONFIGS = fileURLToPath(new URL('../../fixtures/configs/', import.meta.url));
const where = (i: SourceIssue) => `${i.path}@${i.line}:${i.col}`;

function resolveText(text: string, file = join(CONFIGS, 'inline.yaml')) {
  return resolveConfig(parseConfigText(text, file));
}

function resolveError(text: string): ConfigError {
  try {
    resolveText(text);
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return e as ConfigError;
  }
  throw new Error('expected resolveConfig to reject the config');
}

async function fileError(name: string): Promise<ConfigError> {
  const loaded = await loadConfigFile(join(CONFIGS, name));
  try {
    resolveConfig(loaded);
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return e as ConfigError;
  }
  throw new Error(`expected ${name} to be rejected`);
}

describe('resolveConfig', () => {
  it('applies defaults, wraps scalar grid values and resolves paths against the config file', () => {
    const c = resolveText('dataset: ../datasets/tickets.csv\nparams:\n  model: gpt-4o-mini\ngrid:\n  temperature: 0.5\n  n: [1, 2]\n');
    expect(c.datasets).toEqual([fileURLToPath(new URL('../../fixtures/datasets/tickets.csv', import.meta.url))]);
    expect(c.grid).toEqual([
      { key: 'temperature', values: [0.5] },
      { key: 'n', values: [1, 2] },
    ]);
    expect(c.concurrency).toBe(8);
    expect(c.retry).toEqual({ maxAttempts: 5, maxWaitS: 60 });
    expect(c.timeoutS).toBe(300);
    expect(c.name).toBe('inline');
    expect(c.provider.kind).toBe('openai');
    expect(c.hash).toMatch(/^[0-9a-f]{16}$/);
  });

  it('lets options override the provider and concurrency', () => {
    const c = resolveConfig(parseConfigText('dataset: a.csv\nparams: { model: x }\nconcurrency: 3\n', 'evalrun.yaml'), { simulate: true, concurrency: 11 });
    expect(c.provider.kind).toBe('simulator');
    expect(c.concurrency).toBe(11);
  });

  it('moves top-level tools and tool_choice into the request parameters', () => {
    const c = resolveText('dataset: a.csv\nparams: { model: x }\ntools: [{ type: function, function: { name: f } }]\ntool_choice: required\n');
    expect(c.params['tool_choice']).toBe('required');
    expect(c.params['tools']).toEqual([{ type: 'function', function: { name: 'f' } }]);
  });

  it('keeps the hash stable when only concurrency changes, and changes it when a parameter does', () => {
    const base = 'dataset: a.csv\nparams: { model: x, temperature: 0.5 }\n';
    expect(resolveText(`${base}concurrency: 2\n`).hash).toBe(resolveText(base).hash);
    expect(resolveText(base.replace('0.5', '0.6')).hash).not.toBe(resolveText(base).hash);
  });

  it('requires a model, in params or on the grid', () => {
    const e = resolveError('dataset: a.csv\nmessages:\n  - role: user\n    content: hi\n');
    expect(e.exitCode).toBe(3);
    expect(e.message).toContain("no model: set 'params.model' or list models under 'grid.model'");
    expect(() => resolveText('dataset: a.csv\ngrid:\n  model: [a, b]\n')).not.toThrow();
  });

  it("refuses json_object when no message mentions 'json', pointing at the messages", () => {
    const e = resolveError(
      'dataset: a.csv\nmessages:\n  - role: system\n    content: Triage the ticket.\n  - role: user\n    content: "{{body}}"\nparams:\n  model: x\n  response_format: { type: json_object }\n',
    );
    expect(e.issues).toHaveLength(1);
    expect(where(e.issues[0]!)).toBe('messages@3:3');
    expect(e.message).toContain("needs the word 'json' in the messages");
    expect(e.message).toContain("add 'Answer with a JSON object.'");
  });

  it('refuses json_object given only on a grid axis too', () => {
    const e = resolveError('dataset: a.csv\nmessages: [{ role: user, content: hi }]\nparams: { model: x }\ngrid:\n  response_format: [{ type: text }, { type: json_object }]\n');
    expect(e.message).toContain("needs the word 'json'");
  });

  it('accepts json_object when a message says JSON in any case', () => {
    expect(() =>
      resolveText('dataset: a.csv\nmessages: [{ role: user, content: Reply in Json please }]\nparams: { model: x, response_format: { type: json_object } }\n'),
    ).not.toThrow();
  });

  it("flags a misspelt parameter with a 'did you mean' at the key", () => {
    const e = resolveError('dataset: a.csv\nparams:\n  model: x\n  temprature: 0.5\n');
    expect(where(e.issues[0]!)).toBe('params.temprature@4:3');
    expect(e.message).toContain("unknown parameter 'temprature' (did you mean 'temperature'?)");
  });

  it('lets through a server-specific parameter that resembles no known one', () => {
    const c = resolveText('dataset: a.csv\nparams:\n  model: x\n  my_server_option: 1.1\n');
    expect(c.params['my_server_option']).toBe(1.1);
  });

  it('refuses parameters evalrun owns (stream, messages)', () => {
    const e = resolveError('dataset: a.csv\nparams:\n  model: x\n  stream: true\n');
    expect(e.message).toContain("'stream' cannot be set: evalrun reads whole responses");
  });

  it('collects the problems of every rule before throwing', () => {
    const e = resolveError('dataset: a.csv\nparams:\n  temprature: 0.5\n  stream: true\nschema: ../schemas/no-such.schema.json\n');
    expect(e.issues.map((i) => i.path).sort()).toEqual(['', 'params.stream', 'params.temprature', 'schema']);
  });

  it('refuses a schema file that is not a valid JSON Schema (exit 3, with ajv\'s message)', async () => {
    const e = await fileError('bad-schema.yaml');
    expect(e.exitCode).toBe(3);
    expect(e.issues).toHaveLength(1);
    expect(where(e.issues[0]!)).toBe('schema@9:9');
    expect(e.message).toContain('../schemas/invalid-type.schema.json is not a valid JSON Schema');
    expect(e.message).toContain('data/type must be equal to one of the allowed values');
    expect(e.message).toMatch(/bad-schema\.yaml:9:9 schema: /);
  });

  it('refuses a schema file that does not exist, naming the resolved path', async () => {
    const e = await fileError('missing-schema.yaml');
    expect(e.exitCode).toBe(3);
    expect(e.message).toContain(`schema file not found: ${join(CONFIGS, '..', 'schemas', 'no-such.schema.json')}`);
  });

  it('refuses a schema file that is not JSON', async () => {
    const e = await fileError('not-json-schema.yaml');
    expect(e.message).toContain('../schemas/not-json.schema.json is not valid JSON');
  });

  it('refuses an invalid inline schema', () => {
    const e = resolveError('dataset: a.csv\nparams: { model: x }\nschema: { type: strnig }\n');
    expect(e.message).toContain('is not a valid JSON Schema');
  });

  it('loads a valid schema file and keeps its path', async () => {
    const c = resolveText('dataset: a.csv\nparams: { model: x }\nschema: ../schemas/ticket.schema.json\n');
    expect(c.schemaFile).toBe(join(CONFIGS, '..', 'schemas', 'ticket.schema.json'));
    expect(c.schema?.['required']).toEqual(['category', 'priority', 'needs_human']);
  });
});
