import OpenAI, { APIError } from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSimulator, type RunningSimulator } from '../../../src/simulator/index.js';
import { expectSpecValid, sampleSchema, specDefs, validateCompletion, validateError } from './spec.js';

let sim: RunningSimulator;
let client: OpenAI;

beforeAll(async () => {
  sim = await startSimulator({ schema: sampleSchema, seed: 3 });
  client = new OpenAI({ baseURL: sim.url, apiKey: 'x', maxRetries: 0 });
});
afterAll(() => sim.close());

const user = (content: string) => [{ role: 'user' as const, content }];

async function caught(p: Promise<unknown>): Promise<APIError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof APIError) return e;
    throw e;
  }
  throw new Error('expected the request to fail');
}

async function raw(path: string, init?: RequestInit): Promise<{ status: number; headers: Headers; body: unknown }> {
  const res = await fetch(sim.url.replace(/\/v1$/, '') + path, init);
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: JSON.parse(text) as unknown };
}

describe('HTTP via the official openai SDK', () => {
  it('listens on an ephemeral port with a /v1 base URL', () => {
    expect(sim.port).toBeGreaterThan(0);
    expect(sim.url).toBe(`http://127.0.0.1:${sim.port}/v1`);
  });

  it('answers a plain chat completion with the API headers', async () => {
    const { data, response } = await client.chat.completions
      .create({ model: 'gpt-4o-mini', messages: user('Say hello.') })
      .withResponse();
    expectSpecValid(validateCompletion, data);
    expect(data.choices[0]?.message.content).toMatch(/Say hello/);
    expect(response.headers.get('x-request-id')).toMatch(/^req_[0-9a-f]{32}$/);
    expect(response.headers.get('content-type')).toBe('application/json');
    expect(Number(response.headers.get('openai-processing-ms'))).toBeGreaterThanOrEqual(0);
    expect(response.headers.get('x-ratelimit-limit-requests')).toBeNull(); // only with rpm configured
  });

  it('gives unique request ids', async () => {
    const ids = new Set<string | null>();
    for (let i = 0; i < 5; i++) ids.add((await client.models.list().withResponse()).response.headers.get('x-request-id'));
    expect(ids.size).toBe(5);
  });

  it('answers n=3 and json_object with a schema, deterministically over HTTP', async () => {
    const req = { model: 'gpt-4o-mini', n: 3, temperature: 0, response_format: { type: 'json_object' as const }, messages: user('Classify this as JSON: great!') };
    const a = await client.chat.completions.create(req);
    const b = await client.chat.completions.create(req);
    expectSpecValid(validateCompletion, a);
    expect(a.choices).toHaveLength(3);
    expect(a.choices.map((c) => c.message.content)).toEqual(b.choices.map((c) => c.message.content));
    const v = JSON.parse(a.choices[0]?.message.content ?? '') as Record<string, unknown>;
    expect(['positive', 'negative', 'neutral']).toContain(v['label']);
  });

  it('returns tool calls the SDK understands', async () => {
    const c = await client.chat.completions.create({
      model: 'gpt-4o-mini',
      messages: user('Weather?'),
      tools: [{ type: 'function', function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } } }],
      tool_choice: 'required',
    });
    expectSpecValid(validateCompletion, c);
    const call = c.choices[0]?.message.tool_calls?.[0];
    expect(call?.type === 'function' ? call.function.name : '').toBe('get_weather');
  });

  it('lists and retrieves models', async () => {
    expect(specDefs).not.toContain('ListModelsResponse'); // no schema in the fixture: check the shape by hand
    const list = await raw('/v1/models');
    expect(list.status).toBe(200);
    const body = list.body as { object: string; data: { id: string; object: string; created: number; owned_by: string }[] };
    expect(body.object).toBe('list');
    expect(body.data.map((m) => m.id)).toEqual(['gpt-4o-mini', 'gpt-4o', 'gpt-4.1-mini', 'gpt-4.1', 'gpt-4.1-nano', 'o4-mini']);
    for (const m of body.data) expect(m).toEqual({ id: m.id, object: 'model', created: expect.any(Number) as number, owned_by: 'evalrun-simulator' });
    const sdkIds: string[] = [];
    for await (const m of client.models.list()) sdkIds.push(m.id);
    expect(sdkIds).toEqual(body.data.map((m) => m.id));
    expect((await client.models.retrieve('gpt-4o')).id).toBe('gpt-4o');
    const missing = await caught(client.models.retrieve('nope'));
    expect(missing.status).toBe(404);
    expect(missing.code).toBe('model_not_found');
  });

  it('answers 400s the SDK maps to BadRequestError, with spec-valid bodies', async () => {
    const e = await caught(client.chat.completions.create({ model: 'gpt-4o-mini', temperature: 2.5, messages: user('hi') }));
    expect(e).toBeInstanceOf(OpenAI.BadRequestError);
    expect(e.param).toBe('temperature');
    expect(e.code).toBe('decimal_above_max_value');
    expect(e.requestID).toMatch(/^req_/);
    const json = await caught(client.chat.completions.create({ model: 'gpt-4o-mini', response_format: { type: 'json_object' }, messages: user('hi') }));
    expect(json.message).toContain("'messages' must contain the word 'json' in some form, to use 'response_format' of type 'json_object'.");
    const stream = await caught(client.chat.completions.create({ model: 'gpt-4o-mini', stream: true, messages: user('hi') }));
    expect(stream.status).toBe(400);
  });

  it('rejects unparsable JSON and unknown routes with error JSON', async () => {
    const bad = await raw('/v1/chat/completions', { method: 'POST', body: '{"model":', headers: { 'content-type': 'application/json' } });
    expect(bad.status).toBe(400);
    expectSpecValid(validateError, bad.body);
    expect(bad.headers.get('x-request-id')).toMatch(/^req_/);
    const nf = await raw('/v1/embeddings', { method: 'POST', body: '{}' });
    expect(nf.status).toBe(404);
    expectSpecValid(validateError, nf.body);
    expect(nf.body).toEqual({ error: { message: 'Invalid URL (POST /v1/embeddings)', type: 'invalid_request_error', param: null, code: null } });
    expect(nf.headers.get('content-type')).toBe('application/json');
    expect((await raw('/v1/models/%E0%A4%A')).status).toBe(404); // a malformed escape must not crash the server
  });

  it('counts requests, statuses and completions', () => {
    expect(sim.stats.requests).toBeGreaterThan(10);
    expect(sim.stats.completions).toBeGreaterThanOrEqual(4);
    expect(sim.stats.byStatus['200']).toBeGreaterThanOrEqual(10);
    expect(sim.stats.byStatus['400']).toBeGreaterThanOrEqual(4);
    expect(sim.stats.byStatus['404']).toBeGreaterThanOrEqual(2);
    expect(sim.stats.inFlight).toBe(0);
    expect(sim.stats.maxInFlight).toBeGreaterThanOrEqual(1);
  });
});

describe('authentication', () => {
  it('requires the configured API key (401 invalid_api_key)', async () => {
    const s = await startSimulator({ api_key: 'sk-test-secret-1234' });
    try {
      const good = new OpenAI({ baseURL: s.url, apiKey: 'sk-test-secret-1234', maxRetries: 0 });
      const bad = new OpenAI({ baseURL: s.url, apiKey: 'sk-wrong-key-9999', maxRetries: 0 });
      expect((await good.chat.completions.create({ model: 'gpt-4o-mini', messages: user('hi') })).object).toBe('chat.completion');
      const e = await caught(bad.chat.completions.create({ model: 'gpt-4o-mini', messages: user('hi') }));
      expect(e).toBeInstanceOf(OpenAI.AuthenticationError);
      expect(e).toMatchObject({ status: 401, code: 'invalid_api_key', type: 'invalid_request_error' });
      expect(e.message).toContain('Incorrect API key provided: sk-');
      expect(e.message).not.toContain('sk-wrong-key-9999');
      const res = await fetch(`${s.url}/models`);
      expect(res.status).toBe(401);
      expectSpecValid(validateError, await res.json());
    } finally {
      await s.close();
    }
  });

  it('expires the key after fail_auth_after chat requests', async () => {
    const s = await startSimulator({ fail_auth_after: 3 });
    try {
      const c = new OpenAI({ baseURL: s.url, apiKey: 'x', maxRetries: 0 });
      for (let i = 0; i < 3; i++) await c.chat.completions.create({ model: 'gpt-4o-mini', messages: user(`hi ${i}`) });
      const e = await caught(c.chat.completions.create({ model: 'gpt-4o-mini', messages: user('hi 4') }));
      expect(e.status).toBe(401);
      expect(e.code).toBe('invalid_api_key');
      expect((await caught(c.models.list())).status).toBe(401);
      expect(s.stats.completions).toBe(3);
    } finally {
      await s.close();
    }
  });
});
