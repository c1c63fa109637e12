/**
 * What evalrun sends is what the official OpenAI schema accepts. A capture server records every request body the
 * CLI sends to its base_url, answers it with the simulator's pure `simulateCompletion`, and every request and
 * response is validated against the OpenAI spec fixture.
 */
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { simulateCompletion } from '../../src/simulator/index.js';
import { cleanEnv, runMain } from '../helpers/cli.js';
import { readCsvFile } from '../helpers/csv.js';
import { specErrors, specValidator } from '../helpers/openai-spec.js';
import { useTempDirs, writeTree } from '../helpers/tmp.js';

const DATASETS = fileURLToPath(new URL('../fixtures/datasets/', import.meta.url));
const tempDir = useTempDirs();
const validateRequest = specValidator('CreateChatCompletionRequest');
const validateResponse = specValidator('CreateChatCompletionResponse');

interface Exchange {
  path: string;
  headers: IncomingHttpHeaders;
  request: Record<string, unknown>;
  status: number;
  response: unknown;
}

const exchanges: Exchange[] = [];
let server: Server;
let baseUrl: string;

const triageSchema = {
  type: 'object',
  properties: {
    category: { type: 'string', enum: ['billing', 'bug', 'account', 'other'] },
    priority: { type: 'string', enum: ['low', 'medium', 'high'] },
    needs_human: { type: 'boolean' },
  },
  required: ['category', 'priority', 'needs_human'],
  additionalProperties: false,
};

const jsonConfig = () => `name: spec-json
dataset: ${join(DATASETS, 'tickets.csv')}
id_column: ticket_id
messages:
  - role: system
    content: Triage the ticket. Answer with a JSON object.
  - role: user
    content: "{{subject}}"
params:
  model: gpt-4o-mini
  seed: 42
  stop: ["\\n\\n\\n", "END"]
  max_completion_tokens: 300
  presence_penalty: 0.5
  frequency_penalty: -0.5
  user: evalrun-test
grid:
  response_format:
    - { type: json_object }
    - type: json_schema
      json_schema:
        name: triage
        strict: true
        schema: ${JSON.stringify(triageSchema)}
  temperature: [0, 1.2]
  n: [2]
concurrency: 4
provider:
  base_url: ${baseUrl}
`;

const toolsConfig = () => `name: spec-tools
dataset: ${join(DATASETS, 'tickets.jsonl')}
messages:
  - role: user
    content: "Route this ticket: {{subject}}"
params:
  model: gpt-4.1-mini
  top_p: 0.9
  max_tokens: 100
  parallel_tool_calls: false
tools:
  - type: function
    function:
      name: route_ticket
      description: Send the ticket to a team.
      strict: true
      parameters:
        type: object
        properties:
          team: { type: string, enum: [billing, support] }
        required: [team]
        additionalProperties: false
grid:
  tool_choice: [required, { type: function, function: { name: route_ticket } }]
concurrency: 2
provider:
  base_url: ${baseUrl}
`;

/** Log probabilities asked for, on a model that gives them. */
const logprobsConfig = () => `name: spec-logprobs
dataset: ${join(DATASETS, 'tickets.jsonl')}
messages:
  - role: user
    content: "Summarise: {{subject}}"
params:
  model: gpt-4.1-nano
  logprobs: true
  top_logprobs: 3
  max_completion_tokens: 60
grid:
  temperature: [0, 1]
concurrency: 2
provider:
  base_url: ${baseUrl}
`;

/** A reasoning model: only the parameters it accepts, reasoning effort in the grid. */
const reasoningConfig = () => `name: spec-reasoning
dataset: ${join(DATASETS, 'tickets.jsonl')}
messages:
  - role: developer
    content: Answer in one sentence.
  - role: user
    content: "{{subject}}"
params:
  model: o4-mini
  max_completion_tokens: 2000
grid:
  reasoning_effort: [low, high]
concurrency: 2
provider:
  base_url: ${baseUrl}
`;

beforeAll(async () => {
  server = createServer((req, res) => {
    let raw = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (raw += c));
    req.on('end', () => {
      const request = JSON.parse(raw) as Record<string, unknown>;
      const reply = simulateCompletion(request, { seed: 0 });
      exchanges.push({ path: req.url ?? '', headers: req.headers, request, status: reply.status, response: reply.body });
      const text = typeof reply.body === 'string' ? reply.body : JSON.stringify(reply.body);
      res.writeHead(reply.status, { 'content-type': 'application/json', 'x-request-id': `req_${exchanges.length}`, ...reply.headers });
      res.end(text);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  baseUrl = `http://127.0.0.1:${(server.address() as { port: number }).port}/v1`;

  const dir = await tempDir('evalrun-spec-');
  const files = await writeTree(dir, { 'json.yaml': jsonConfig(), 'tools.yaml': toolsConfig(), 'logprobs.yaml': logprobsConfig(), 'reasoning.yaml': reasoningConfig() });
  const env = cleanEnv({ OPENAI_API_KEY: 'sk-test' });
  const results = await Promise.all([
    runMain(['run', files['json.yaml']!, '--out', join(dir, 'json'), '--quiet'], env),
    runMain(['run', files['tools.yaml']!, '--out', join(dir, 'tools'), '--quiet'], env),
    runMain(['run', files['logprobs.yaml']!, '--out', join(dir, 'logprobs'), '--quiet'], env),
    runMain(['run', files['reasoning.yaml']!, '--out', join(dir, 'reasoning'), '--quiet'], env),
  ]);
  for (const r of results) if (r.code !== 0) throw new Error(`evalrun exited ${r.code}:\n${r.stderr}`);
  outDirs = { json: join(dir, 'json'), tools: join(dir, 'tools') };
}, 60_000);

let outDirs: { json: string; tools: string };

afterAll(
  () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
);

const byConfig = (model: string) => exchanges.filter((e) => e.request['model'] === model);

describe('requests evalrun sends', () => {
  it('are judged by a schema with teeth: it rejects bodies the API would refuse', () => {
    const ok = { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] };
    expect(specErrors(validateRequest, ok)).toBe('');
    expect(specErrors(validateRequest, { ...ok, messages: [] })).not.toBe('');
    expect(specErrors(validateRequest, { ...ok, temperature: 2.5 })).not.toBe('');
    expect(specErrors(validateRequest, { ...ok, response_format: { type: 'json_schema' } })).not.toBe('');
    expect(specErrors(validateRequest, { ...ok, tools: [{ type: 'function', function: {} }] })).not.toBe('');
    expect(specErrors(validateRequest, { ...ok, messages: [{ role: 'robot', content: 'hi' }] })).not.toBe('');
  });

  it('go to POST /v1/chat/completions with the API key, once per planned request', () => {
    expect(byConfig('gpt-4o-mini')).toHaveLength(5 * 4);
    expect(byConfig('gpt-4.1-mini')).toHaveLength(3 * 2);
    for (const e of exchanges) {
      expect(e.path).toBe('/v1/chat/completions');
      expect(e.headers['authorization']).toBe('Bearer sk-test');
      expect(e.headers['content-type']).toMatch(/^application\/json/);
    }
  });

  it('validate against CreateChatCompletionRequest of the official schema, every one', () => {
    expect(exchanges.length).toBeGreaterThan(0);
    for (const e of exchanges) expect(specErrors(validateRequest, e.request), JSON.stringify(e.request)).toBe('');
  });

  it('carry json_object and json_schema response formats, seed, stop and the other parameters as configured', () => {
    const sent = byConfig('gpt-4o-mini').map((e) => e.request);
    const formats = new Set(sent.map((b) => (b['response_format'] as { type: string }).type));
    expect(formats).toEqual(new Set(['json_object', 'json_schema']));
    const strict = sent.find((b) => (b['response_format'] as { type: string }).type === 'json_schema')!;
    expect(strict['response_format']).toEqual({ type: 'json_schema', json_schema: { name: 'triage', strict: true, schema: triageSchema } });
    for (const b of sent) {
      expect(b).toMatchObject({ seed: 42, stop: ['\n\n\n', 'END'], n: 2, max_completion_tokens: 300, presence_penalty: 0.5, frequency_penalty: -0.5, user: 'evalrun-test' });
      expect([0, 1.2]).toContain(b['temperature']);
      expect(b).not.toHaveProperty('stream');
    }
  });

  it('render the template into the messages', () => {
    const first = byConfig('gpt-4o-mini').find((e) => JSON.stringify(e.request['messages']).includes('两步'))!;
    expect(first.request['messages']).toEqual([
      { role: 'system', content: 'Triage the ticket. Answer with a JSON object.' },
      { role: 'user', content: '两步验证收不到短信' },
    ]);
    const own = byConfig('gpt-4.1-mini').find((e) => JSON.stringify(e.request['messages']).includes('brings its own prompt'))!;
    expect(own.request['messages']).toEqual([{ role: 'user', content: 'This row brings its own prompt: reply in JSON.' }]);
  });

  it('carry tools with tool_choice as a mode or a named function', () => {
    const sent = byConfig('gpt-4.1-mini').map((e) => e.request);
    const choices = sent.map((b) => JSON.stringify(b['tool_choice']));
    expect(new Set(choices)).toEqual(new Set(['"required"', '{"type":"function","function":{"name":"route_ticket"}}']));
    for (const b of sent) {
      expect(b).toMatchObject({ top_p: 0.9, max_tokens: 100, parallel_tool_calls: false });
      expect((b['tools'] as Array<{ function: { name: string } }>)[0]!.function.name).toBe('route_ticket');
    }
  });
});

describe('responses evalrun reads', () => {
  it('are valid CreateChatCompletionResponse bodies (the capture server answered 200 to all)', () => {
    for (const e of exchanges) {
      expect(e.status).toBe(200);
      expect(specErrors(validateResponse, e.response), JSON.stringify(e.response).slice(0, 300)).toBe('');
    }
  });

  it('with logprobs and reasoning usage, validate against the official schema', () => {
    const logprobs = byConfig('gpt-4.1-nano');
    expect(logprobs).toHaveLength(3 * 2);
    for (const e of logprobs) {
      expect(e.status).toBe(200);
      expect(specErrors(validateResponse, e.response), JSON.stringify(e.response).slice(0, 300)).toBe('');
      const choice = (e.response as { choices: Array<{ message: { content: string }; logprobs: { content: Array<{ token: string; top_logprobs: unknown[] }> } }> }).choices[0]!;
      expect(choice.logprobs.content.map((t) => t.token).join('')).toBe(choice.message.content);
      expect(choice.logprobs.content.every((t) => t.top_logprobs.length === 3)).toBe(true);
    }
    const reasoning = byConfig('o4-mini');
    expect(reasoning).toHaveLength(3 * 2);
    for (const e of reasoning) {
      expect(e.status).toBe(200);
      expect(specErrors(validateResponse, e.response), JSON.stringify(e.response).slice(0, 300)).toBe('');
      const usage = (e.response as { usage: { completion_tokens: number; completion_tokens_details: { reasoning_tokens: number } } }).usage;
      expect(usage.completion_tokens_details.reasoning_tokens).toBeGreaterThan(0);
      expect(usage.completion_tokens).toBeGreaterThan(usage.completion_tokens_details.reasoning_tokens);
    }
  });

  it('end up in choices.csv: strict json_schema answers all pass the schema, tool calls are recorded', async () => {
    const json = await readCsvFile(join(outDirs.json, 'choices.csv'));
    expect(json).toHaveLength(5 * 4 * 2);
    const strict = json.filter((c) => c['cell']!.includes('json_schema') && c['finish_reason'] === 'stop');
    expect(strict.length).toBeGreaterThan(0);
    expect(strict.every((c) => c['schema_valid'] === 'true')).toBe(true);
    const tools = await readCsvFile(join(outDirs.tools, 'choices.csv'));
    expect(tools).toHaveLength(3 * 2);
    for (const c of tools) {
      expect(c['finish_reason']).toBe('tool_calls');
      expect(JSON.parse(c['tool_calls']!)[0]).toMatchObject({ name: 'route_ticket' });
    }
  });
});
