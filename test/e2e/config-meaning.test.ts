/**
 * Issue 12, config items 1–8: what users write is either done as they mean it or refused/warned at the place they
 * wrote it, through the CLI (`evalrun plan`, which sends nothing, and `evalrun run` on the simulator).
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runMain, STACK_LINE, type CliResult } from '../helpers/cli.js';
import { useTempDirs, writeTree } from '../helpers/tmp.js';

const tempDir = useTempDirs();

const rowsCsv = 'id,subject,label\nT-1,first,a\nT-2,second,b\n';
const base = (extra = '', params = '  model: gpt-4o-mini\n') =>
  `dataset: rows.csv\nid_column: id\nmessages:\n  - role: user\n    content: "Answer in JSON: {{subject}}"\nparams:\n${params}provider: simulator\n${extra}`;

async function plan(files: Record<string, string | Buffer>, args: string[] = []): Promise<CliResult & { dir: string }> {
  const dir = await tempDir('evalrun-meaning-');
  await writeTree(dir, { 'rows.csv': rowsCsv, ...files });
  const result = await runMain(['plan', join(dir, 'evalrun.yaml'), ...args]);
  expect(result.stderr).not.toMatch(STACK_LINE);
  return { ...result, dir };
}

/** The lines of stderr, with the temp dir taken out of paths. */
const errLines = (r: CliResult & { dir: string }) => r.stderr.split(`${r.dir}/`).join('').trimEnd().split('\n');

describe('1. parameters of OpenAI-compatible servers', () => {
  it("vLLM's top_k and min_tokens pass against another server, with neither error nor warning", async () => {
    const r = await plan({ 'evalrun.yaml': base('', '  model: my-llama\n  top_k: 40\n  min_tokens: 5\n').replace('provider: simulator', 'provider: { base_url: "http://127.0.0.1:9/v1" }') });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toBe('');
  });

  it("against OpenAI they pass with a warning at their line (OpenAI would refuse them)", async () => {
    const r = await plan({ 'evalrun.yaml': base('', '  model: gpt-4o-mini\n  top_k: 40\n').replace('provider: simulator\n', '') });
    expect(r.code, r.stderr).toBe(0);
    expect(errLines(r)).toEqual([expect.stringMatching(/^warning: evalrun\.yaml:8:3 params\.top_k: 'top_k' is not an OpenAI parameter/)]);
  });

  it('a near-miss of a known name is an error for OpenAI, naming extra_body as the escape', async () => {
    const r = await plan({ 'evalrun.yaml': base('', '  model: gpt-4o-mini\n  temprature: 0.5\n') });
    expect(r.code).toBe(3);
    expect(errLines(r)).toEqual([
      "evalrun.yaml:8:3 params.temprature: unknown parameter 'temprature' (did you mean 'temperature'?); a parameter only your server knows goes under 'extra_body:', sent without checks",
    ]);
  });

  it('the same near-miss only warns when the base URL is not OpenAI\'s (it may be the server\'s own)', async () => {
    const r = await plan({ 'evalrun.yaml': base('', '  model: my-llama\n  temprature: 0.5\n').replace('provider: simulator', 'provider: { base_url: "http://127.0.0.1:9/v1" }') });
    expect(r.code, r.stderr).toBe(0);
    expect(errLines(r)).toEqual([expect.stringMatching(/^warning: evalrun\.yaml:8:3 params\.temprature: unknown parameter 'temprature' \(did you mean 'temperature'\?\); sent as written/)]);
  });

  it('extra_body is merged into every request as written (top level and per grid cell), recorded in run.json', async () => {
    const dir = await tempDir('evalrun-meaning-');
    await writeTree(dir, {
      'rows.csv': rowsCsv,
      'evalrun.yaml': base('extra_body: { top_kk: 3, chat_template_kwargs: { enable_thinking: false } }\n'),
    });
    const out = join(dir, 'run');
    const r = await runMain(['run', join(dir, 'evalrun.yaml'), '--out', out, '--quiet']);
    expect(r.code, r.stderr).toBe(0);
    const manifest = JSON.parse(await readFile(join(out, 'run.json'), 'utf8')) as { plan: { cells: Array<{ params: Record<string, unknown> }> } };
    expect(manifest.plan.cells[0]!.params['extra_body']).toEqual({ top_kk: 3, chat_template_kwargs: { enable_thinking: false } });
  });

  it("extra_body may not set what evalrun owns", async () => {
    const r = await plan({ 'evalrun.yaml': base('extra_body:\n  stream: true\n') });
    expect(r.code).toBe(3);
    expect(errLines(r)[0]).toMatch(/^evalrun\.yaml:10:3 extra_body\.stream: 'stream' cannot be set in extra_body/);
  });
});

describe('2. JSON Schemas with unknown keywords', () => {
  it('a misspelt keyword in a schema file is an error at its line in that file, with a did-you-mean', async () => {
    const r = await plan({
      'evalrun.yaml': base('schema: out.schema.json\n'),
      'out.schema.json': '{\n  "type": "object",\n  "propertes": {\n    "category": { "type": "string" }\n  }\n}\n',
    });
    expect(r.code).toBe(3);
    expect(errLines(r)).toEqual([
      "out.schema.json:3:3 propertes: unknown JSON Schema keyword 'propertes' (did you mean 'properties'?): validation ignores it, so the schema would not check what it says",
    ]);
  });

  it('a schema of nothing but unknown keywords ({"foo": 1}) is refused', async () => {
    const r = await plan({ 'evalrun.yaml': base('schema: { foo: 1 }\n') });
    expect(r.code).toBe(3);
    expect(errLines(r)).toEqual(["evalrun.yaml:9:11 schema.foo: unknown JSON Schema keyword 'foo': validation ignores it, so the schema would not check what it says"]);
  });

  it('nested keywords are found where they are, also in a response_format json_schema', async () => {
    const rf = '  response_format:\n    type: json_schema\n    json_schema:\n      name: out\n      schema:\n        type: object\n        properties:\n          a: { type: string, minLenght: 2 }\n';
    const r = await plan({ 'evalrun.yaml': base('', `  model: gpt-4o-mini\n${rf}`) });
    expect(r.code).toBe(3);
    expect(errLines(r)).toEqual([
      "evalrun.yaml:15:30 params.response_format.json_schema.schema.properties.a.minLenght: unknown JSON Schema keyword 'minLenght' (did you mean 'minLength'?): validation ignores it, so the schema would not check what it says",
    ]);
  });

  it('an unknown format is an error at its line, with a did-you-mean', async () => {
    const r = await plan({
      'evalrun.yaml': base('schema: out.schema.json\n'),
      'out.schema.json': '{\n  "type": "object",\n  "properties": {\n    "mail": { "type": "string", "format": "emial" }\n  }\n}\n',
    });
    expect(r.code).toBe(3);
    expect(errLines(r)[0]).toMatch(/^out\.schema\.json:4:33 properties\.mail\.format: unknown format 'emial' \(did you mean 'email'\?\)/);
  });

  it('known keywords and formats still pass', async () => {
    const r = await plan({
      'evalrun.yaml': base('schema: out.schema.json\n'),
      'out.schema.json': JSON.stringify({ $schema: 'http://json-schema.org/draft-07/schema#', title: 't', type: 'object', properties: { mail: { type: 'string', format: 'email', description: 'd' } }, required: ['mail'], additionalProperties: false }),
    });
    expect(r.code, r.stderr).toBe(0);
  });
});

describe('3. datasets that are not UTF-8', () => {
  const latin1 = Buffer.concat([Buffer.from('id,subject,label\nT-1,first,a\nT-2,caf'), Buffer.from([0xe9]), Buffer.from(' au lait,b\n')]);

  it('a byte that is not UTF-8 is refused at file:line:column, suggesting encoding:', async () => {
    const r = await plan({ 'evalrun.yaml': base(), 'rows.csv': latin1 });
    expect(r.code).toBe(4);
    expect(errLines(r)).toEqual([
      'rows.csv:3:8: not UTF-8 (byte 0xe9); save the file as UTF-8, or name its encoding in the config (encoding: latin1, windows-1252, utf-16le, …)',
    ]);
  });

  it('in JSONL too, at the line and column of the byte', async () => {
    const jsonl = Buffer.concat([Buffer.from('{"id":"a","subject":"ok","label":"x"}\n{"id":"b","subject":"caf'), Buffer.from([0xe9]), Buffer.from('","label":"y"}\n')]);
    const r = await plan({ 'evalrun.yaml': base().replace('rows.csv', 'rows.jsonl'), 'rows.jsonl': jsonl });
    expect(r.code).toBe(4);
    expect(errLines(r)[0]).toMatch(/^rows\.jsonl:2:25: not UTF-8 \(byte 0xe9\)/);
  });

  it('encoding: latin1 decodes it (here per dataset entry): the run goes through', async () => {
    const dir = await tempDir('evalrun-meaning-');
    await writeTree(dir, { 'rows.csv': latin1, 'evalrun.yaml': base().replace('dataset: rows.csv', 'dataset: [{ path: rows.csv, encoding: latin1 }]') });
    const out = join(dir, 'run');
    const r = await runMain(['run', join(dir, 'evalrun.yaml'), '--out', out, '--quiet']);
    expect(r.code, r.stderr).toBe(0);
    // What the rows decode to is shown in test/unit/dataset/decode.test.ts ('café', not 'caf�').
    expect((await readFile(join(out, 'records.jsonl'), 'utf8')).trim().split('\n')).toHaveLength(2);
  });

  it('an encoding name TextDecoder does not know is a config error', async () => {
    const r = await plan({ 'evalrun.yaml': base('encoding: latin-9000\n') });
    expect(r.code).toBe(3);
    expect(errLines(r)[0]).toMatch(/^evalrun\.yaml:9:11 encoding: unknown encoding 'latin-9000'/);
  });
});

describe('4. a parameter set under params and under grid', () => {
  it('warns, naming both lines: the grid wins', async () => {
    const r = await plan({ 'evalrun.yaml': base('grid:\n  temperature: [0, 1]\n', '  model: gpt-4o-mini\n  temperature: 0.5\n') });
    expect(r.code, r.stderr).toBe(0);
    expect(errLines(r)).toEqual([
      "warning: evalrun.yaml:8:3 params.temperature: 'temperature' is also set under grid (line 11): every cell uses the grid's values, so params.temperature = 0.5 is never sent; remove it here, or add it to grid.temperature",
    ]);
  });

  it('run prints the same warning before sending', async () => {
    const dir = await tempDir('evalrun-meaning-');
    await writeTree(dir, { 'rows.csv': rowsCsv, 'evalrun.yaml': base('grid:\n  temperature: [0, 1]\n', '  model: gpt-4o-mini\n  temperature: 0.5\n') });
    const r = await runMain(['run', join(dir, 'evalrun.yaml'), '--out', join(dir, 'run'), '--quiet']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/^warning: .*evalrun\.yaml:8:3 params\.temperature: 'temperature' is also set under grid \(line 11\)/m);
  });
});

describe('5. YAML anchors', () => {
  it('merge keys (<<) work and top-level x- keys hold anchors without being config', async () => {
    const yaml = `x-common: &common\n  max_tokens: 30\n  temperature: 0\n${base('', '  <<: *common\n  model: gpt-4o-mini\n')}`;
    const r = await plan({ 'evalrun.yaml': yaml }, ['--json']);
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as { cells: Array<{ id: string }>; cost: { max_completion_tokens: number } };
    // temperature from the anchor shows in the cell id; max_tokens bounds the completion tokens (30 × 2 rows).
    expect(out.cells.map((c) => c.id)).toEqual(['gpt-4o-mini/t0']);
    expect(out.cost.max_completion_tokens).toBe(60);
  });

  it('other unknown top-level keys are still errors', async () => {
    const r = await plan({ 'evalrun.yaml': base('common: 1\n') });
    expect(r.code).toBe(3);
    expect(errLines(r)[0]).toMatch(/^evalrun\.yaml:9:1 common: unknown key 'common'/);
  });
});

describe('6. rows with their own messages', () => {
  it("a row whose 'messages' is not a list is refused, not silently replaced by the template", async () => {
    const jsonl = '{"id":"a","subject":"s","label":"x","messages":"Classify this"}\n';
    const r = await plan({ 'evalrun.yaml': base().replace('rows.csv', 'rows.jsonl'), 'rows.jsonl': jsonl });
    expect(r.code).toBe(4);
    expect(errLines(r)).toEqual([
      'rows.jsonl:1 row a: \'messages\' must be a list of {role, content} (OpenAI\'s format), not text ("Classify this"); rename the field to use it as a {{variable}} of the template',
    ]);
  });

  it("under json_object, rows' messages without the word json are refused once, with a count", async () => {
    const rows = Array.from({ length: 5 }, (_, i) => JSON.stringify({ id: `r${i}`, messages: [{ role: 'user', content: `Classify ${i}` }] })).join('\n');
    const yaml = base('', '  model: gpt-4o-mini\n  response_format: { type: json_object }\n').replace('rows.csv', 'rows.jsonl');
    const r = await plan({ 'evalrun.yaml': yaml, 'rows.jsonl': `${rows}\n` });
    expect(r.code).toBe(4);
    expect(errLines(r)).toEqual([
      "rows.jsonl:1 row r0: response_format json_object needs the word 'json' in the messages (the API rejects the request otherwise); this row's own messages do not have it (and 4 more rows of rows.jsonl)",
    ]);
  });

  it('roles are checked like the template\'s', async () => {
    const r = await plan({ 'evalrun.yaml': base().replace('rows.csv', 'rows.jsonl'), 'rows.jsonl': '{"id":"a","messages":[{"role":"usr","content":"json?"}]}\n' });
    expect(r.code).toBe(4);
    expect(errLines(r)[0]).toMatch(/^rows\.jsonl:1 row a: 'messages' item 0 has role "usr"; use one of system, developer, user, assistant, tool$/);
  });
});

describe('7. a missing column is stated once', () => {
  const many = `id,subject,label\n${Array.from({ length: 20 }, (_, i) => `T-${i},s${i},a`).join('\n')}\n`;

  it('a check column typo: one line with a did-you-mean and how many more rows', async () => {
    const checks = 'checks:\n  - { name: right, type: equals, expected: { column: labl } }\n';
    const r = await plan({ 'evalrun.yaml': base(checks), 'rows.csv': many });
    expect(r.code).toBe(4);
    expect(errLines(r)).toEqual([
      "rows.csv:2 row T-0: a check compares with column 'labl' but this row has no 'labl' (did you mean 'label'?) (it has: id, subject, label) (and 19 more rows of rows.csv)",
    ]);
  });

  it('an id_column missing from the header: one line with a did-you-mean', async () => {
    const r = await plan({ 'evalrun.yaml': base().replace('id_column: id', 'id_column: ids'), 'rows.csv': many });
    expect(r.code).toBe(4);
    expect(errLines(r)).toEqual([
      "rows.csv:2 row 1: id column 'ids' is not in this row (did you mean 'id'?) (it has: id, subject, label); set 'id_column' to one of these, or drop it to number the rows",
    ]);
  });
});

describe('8. long prompts', () => {
  it("plan warns when a prompt is longer than the model's context window, naming the row", async () => {
    const csv = `id,subject,label\nT-1,short,a\nT-2,${'a'.repeat(1_100_000)},b\n`;
    const r = await plan({ 'evalrun.yaml': base('grid:\n  model: [gpt-4o-mini, gpt-4.1-mini, my-llama]\n', '  max_tokens: 5\n'), 'rows.csv': csv });
    expect(r.code, r.stderr).toBe(0);
    // gpt-4.1-mini's million-token window holds it; an unknown model's window is unknown: no warning for either.
    expect(errLines(r)).toEqual([
      expect.stringMatching(/^warning: rows\.csv:3 row T-2: the prompt is [\d,]+ tokens, more than gpt-4o-mini's context window of 128,000; the API will refuse these requests of cell gpt-4o-mini$/),
    ]);
  });
});
