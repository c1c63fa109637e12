/**
 * Tool calls are checked, through the CLI (`main()` in-process) against a loopback server that answers every request
 * with the same five choices: a valid call, a call whose argument has the wrong type, a call to a tool the config
 * does not define, a call whose arguments are cut-off JSON, and a plain text answer. Each call's arguments are
 * validated against its tool's `parameters` from the config; checks point into the calls with `/tool_calls/...`; the
 * rate is gateable.
 */
import { createServer, type Server } from 'node:http';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanEnv, runMain, STACK_LINE, type CliResult } from '../helpers/cli.js';
import { readCsvFile, type CsvRow } from '../helpers/csv.js';
import { useTempDirs, writeTree } from '../helpers/tmp.js';

const tempDir = useTempDirs();

const call = (id: string, name: string, args: string) => ({ id, type: 'function', function: { name, arguments: args } });
const CHOICES = [
  { calls: [call('call_ok', 'get_weather', '{"city":"Paris","unit":"celsius"}')] },
  { calls: [call('call_type', 'get_weather', '{"city":42}')] },
  { calls: [call('call_unknown', 'launch_rockets', '{"count":3}')] },
  { calls: [call('call_cut', 'get_weather', '{"city":"Par')] },
  { content: 'Please tell me which city.' },
];

const config = (baseUrl: string, extra = '') => `name: tools
dataset: cities.csv
id_column: id
messages:
  - { role: user, content: "Weather in {{city}}?" }
params: { model: gpt-4o-mini, n: 5 }
tools:
  - type: function
    function:
      name: get_weather
      parameters:
        type: object
        properties:
          city: { type: string }
          unit: { enum: [celsius, fahrenheit] }
        required: [city]
        additionalProperties: false
provider:
  base_url: ${baseUrl}
retry: { max_attempts: 1 }
checks:
  - { name: city_is_row, type: equals, pointer: /tool_calls/0/arguments/city, expected: { column: city } }
  - { name: called_weather, type: equals, pointer: /tool_calls/0/name, expected: get_weather }
  - { name: polite, type: contains, expected: please, ignore_case: true }
gates:
  - { metric: tool_args_valid_rate, min: 0.5 }
${extra}`;

let server: Server;
let base = '';
let run: CliResult;
let choices: CsvRow[] = [];
let stats: CsvRow[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    req.resume().on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json' }).end(
        JSON.stringify({
          id: 'chatcmpl-1',
          object: 'chat.completion',
          created: 1,
          model: 'gpt-4o-mini',
          choices: CHOICES.map((c, index) => ({
            index,
            finish_reason: c.calls ? 'tool_calls' : 'stop',
            message: { role: 'assistant', content: c.content ?? null, refusal: null, ...(c.calls ? { tool_calls: c.calls } : {}) },
          })),
          usage: { prompt_tokens: 10, completion_tokens: 10, total_tokens: 20 },
        }),
      );
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as { port: number }).port}/v1`;
  base = await tempDir('evalrun-tools-');
  await writeTree(base, {
    'cities.csv': 'id,city\nr1,Paris\nr2,Rome\n',
    'evalrun.yaml': config(url),
    'bad.yaml': config(url).replace('properties:\n          city: { type: string }', 'properties:\n          city: { type: strng }'),
  });
  run = await runMain(['run', join(base, 'evalrun.yaml'), '--out', join(base, 'run'), '--quiet'], cleanEnv({ OPENAI_API_KEY: 'sk-test' }));
  choices = await readCsvFile(join(base, 'run', 'choices.csv'));
  stats = await readCsvFile(join(base, 'run', 'stats.csv'));
}, 60_000);

afterAll(() => {
  server?.close();
});

const choice = (row: string, i: number) => choices.find((c) => c['row_id'] === row && c['choice_index'] === String(i))!;

describe('tool calls are checked', () => {
  it('validates each call against its tool: tool_args_valid per choice, the errors in schema_errors naming the call', () => {
    expect(run.stderr).not.toMatch(STACK_LINE);
    expect(choices).toHaveLength(10);
    for (const row of ['r1', 'r2']) {
      expect([0, 1, 2, 3, 4].map((i) => choice(row, i)['tool_args_valid'])).toEqual(['true', 'false', 'false', 'false', '']);
    }
    expect(choice('r1', 0)['schema_errors']).toBe('');
    expect(choice('r1', 1)['schema_errors']).toBe('tool_calls/0 get_weather: /city must be string');
    expect(choice('r1', 2)['schema_errors']).toMatch(/^tool_calls\/0 launch_rockets: unknown tool \(the config defines get_weather\)$/);
    expect(choice('r1', 3)['schema_errors']).toBe('tool_calls/0 get_weather: arguments are not valid JSON');
    // Not a JSON-mode run: the content verdicts stay empty.
    expect(choices.every((c) => c['json_valid'] === '' && c['schema_valid'] === '')).toBe(true);
  });

  it('keeps the call id in records.jsonl and choices.csv', async () => {
    const records = (await readFile(join(base, 'run', 'records.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l));
    expect(records[0].choices[0].tool_calls).toEqual([{ id: 'call_ok', name: 'get_weather', arguments: '{"city":"Paris","unit":"celsius"}' }]);
    expect(records[0].choices[0].tool_args_valid).toBe(true);
    expect(JSON.parse(choice('r2', 2)['tool_calls']!)).toEqual([{ id: 'call_unknown', name: 'launch_rockets', arguments: '{"count":3}' }]);
  });

  it('grades checks that point into /tool_calls; content checks stay empty for tool-call answers', () => {
    expect(choice('r1', 0)['check_city_is_row']).toBe('true');
    expect(choice('r2', 0)['check_city_is_row']).toBe('false');
    // Wrong type, cut-off JSON, no tool call at all: the pointer finds no matching city.
    expect(choice('r1', 1)['check_city_is_row']).toBe('false');
    expect(choice('r1', 3)['check_city_is_row']).toBe('false');
    expect(choice('r1', 4)['check_city_is_row']).toBe('false');
    expect([0, 1, 2, 3, 4].map((i) => choice('r1', i)['check_called_weather'])).toEqual(['true', 'true', 'false', 'true', 'false']);
    expect([0, 1, 2, 3, 4].map((i) => choice('r1', i)['check_polite'])).toEqual(['', '', '', '', 'true']);
  });

  it('puts tool_args_valid_rate in stats.csv over the choices with tool calls, and gates on it', async () => {
    expect(stats).toHaveLength(1);
    expect(stats[0]).toMatchObject({ tool_args_checked: '8', tool_args_valid: '2', tool_args_valid_rate: '0.25' });
    expect(Number(stats[0]!['tool_args_valid_rate_low'])).toBeLessThan(0.25);
    const summary = JSON.parse(await readFile(join(base, 'run', 'summary.json'), 'utf8'));
    expect(summary.gates.results).toEqual([expect.objectContaining({ metric: 'tool_args_valid_rate', value: 0.25, passed: false })]);
    expect(run.code, run.stderr).toBe(1);
    // The failing-choices list of report.html names the verdict.
    const html = await readFile(join(base, 'run', 'report.html'), 'utf8');
    expect(html).toContain('"failed":["tool_args_valid"');
  });

  it('rejects a tool whose parameters are not a valid JSON Schema before sending anything (exit 3, says where)', async () => {
    const r = await runMain(['plan', join(base, 'bad.yaml')], cleanEnv({ OPENAI_API_KEY: 'sk-test' }));
    expect(r.code).toBe(3);
    expect(r.stderr).toContain('tools.0.function.parameters');
    expect(r.stderr).toContain('is not a valid JSON Schema');
    expect(r.stderr).not.toMatch(STACK_LINE);
  });
});
