/**
 * The simulator as a stand-in for the API: logprobs, custom and allowed tools, the reasoning models' parameter
 * rules and reasoning_tokens, and the /v1 hint. Every answer is checked against the official schema fixture.
 */
import { describe, expect, it } from 'vitest';
import { simulateCompletion, startSimulator } from '../../../src/simulator/index.js';
import { expectSpecValid, validateCompletion, validateError, validateRequest } from './spec.js';

interface TopLogprob { token: string; logprob: number; bytes: number[] | null }
interface Choice {
  finish_reason: string;
  message: { content: string | null; tool_calls?: Array<Record<string, unknown> & { type: string }> };
  logprobs: { content: Array<TopLogprob & { top_logprobs: TopLogprob[] }> | null; refusal: null } | null;
}
interface Completion {
  choices: Choice[];
  usage: { completion_tokens: number; total_tokens: number; prompt_tokens: number; completion_tokens_details: { reasoning_tokens: number } };
}

const user = (content: string) => [{ role: 'user', content }];

function complete(body: Record<string, unknown>): Completion {
  const request = { model: 'gpt-4o-mini', ...body };
  expectSpecValid(validateRequest, request);
  const reply = simulateCompletion(request, { seed: 3 });
  expect(reply.status, JSON.stringify(reply.body)).toBe(200);
  expectSpecValid(validateCompletion, reply.body);
  return reply.body as Completion;
}

function rejected(body: Record<string, unknown>): { status: number; error: { message: string; param: string | null; code: string | null } } {
  const reply = simulateCompletion(body, {});
  expectSpecValid(validateError, reply.body);
  return { status: reply.status, error: (reply.body as { error: { message: string; param: string | null; code: string | null } }).error };
}

describe('logprobs', () => {
  it("are given per content token when asked: the tokens join to the content, and their count is usage's", () => {
    const c = complete({ messages: user('Tell me about café crème 🙏 prices'), logprobs: true, top_logprobs: 3, n: 2, temperature: 1 });
    let tokens = 0;
    for (const choice of c.choices) {
      const lp = choice.logprobs!.content!;
      expect(lp.map((t) => t.token).join('')).toBe(choice.message.content);
      // The bytes join to the content's UTF-8 too, even where a token splits a multi-byte character.
      expect(Buffer.from(lp.flatMap((t) => t.bytes ?? [])).toString('utf8')).toBe(choice.message.content);
      for (const t of lp) {
        expect(t.logprob).toBeLessThanOrEqual(0);
        expect(t.top_logprobs).toHaveLength(3);
        const sorted = [...t.top_logprobs].sort((a, b) => b.logprob - a.logprob);
        expect(t.top_logprobs).toEqual(sorted);
        // The probabilities at one position, the sampled token's included, never sum above 1.
        const mass = new Map([[t.token, t.logprob], ...t.top_logprobs.map((a) => [a.token, a.logprob] as const)]);
        expect([...mass.values()].reduce((s, l) => s + Math.exp(l), 0)).toBeLessThanOrEqual(1 + 1e-9);
      }
      tokens += lp.length;
      expect(choice.logprobs!.refusal).toBeNull();
    }
    expect(c.usage.completion_tokens).toBe(tokens);
  });

  it('are deterministic, absent unless asked, and need logprobs: true for top_logprobs', () => {
    const body = { messages: user('Is the sky blue?'), logprobs: true, top_logprobs: 2 };
    expect(complete(body)).toMatchObject({ choices: complete(body).choices });
    expect(complete({ messages: user('Is the sky blue?') }).choices[0]!.logprobs).toBeNull();
    expect(complete({ messages: user('Is the sky blue?'), logprobs: true }).choices[0]!.logprobs!.content![0]!.top_logprobs).toEqual([]);
    const r = rejected({ model: 'gpt-4o-mini', messages: user('x'), top_logprobs: 2 });
    expect(r.status).toBe(400);
    expect(r.error.param).toBe('top_logprobs');
  });
});

describe('tools', () => {
  const customTool = { type: 'custom', custom: { name: 'run_sql', description: 'Run a query', format: { type: 'text' } } };
  const fnTool = (name: string) => ({ type: 'function', function: { name, parameters: { type: 'object', properties: { team: { type: 'string', enum: ['a', 'b'] } }, required: ['team'], additionalProperties: false } } });

  it('accepts a custom tool and answers a custom tool call with text input', () => {
    const c = complete({ messages: user('count the rows'), tools: [customTool], tool_choice: { type: 'custom', custom: { name: 'run_sql' } } });
    const call = c.choices[0]!.message.tool_calls![0]!;
    expect(c.choices[0]!.finish_reason).toBe('tool_calls');
    expect(call).toMatchObject({ type: 'custom', custom: { name: 'run_sql' } });
    expect(typeof (call['custom'] as { input: unknown }).input).toBe('string');
  });

  it('accepts tool_choice allowed_tools and calls only the allowed tools (mode required)', () => {
    const names = new Set<string>();
    for (let i = 0; i < 30; i++) {
      const c = complete({
        messages: user(`route ticket ${i}`),
        tools: [fnTool('route'), fnTool('escalate'), customTool],
        tool_choice: { type: 'allowed_tools', allowed_tools: { mode: 'required', tools: [{ type: 'function', function: { name: 'escalate' } }, { type: 'custom', custom: { name: 'run_sql' } }] } },
      });
      const call = c.choices[0]!.message.tool_calls![0]!;
      names.add(call.type === 'function' ? (call['function'] as { name: string }).name : (call['custom'] as { name: string }).name);
    }
    expect(names).toEqual(new Set(['escalate', 'run_sql']));
  });

  it('with allowed_tools mode auto, sometimes answers in text', () => {
    const reasons = new Set<string>();
    for (let i = 0; i < 30; i++) {
      const c = complete({ messages: user(`route ticket ${i}`), tools: [fnTool('route')], tool_choice: { type: 'allowed_tools', allowed_tools: { mode: 'auto', tools: [{ type: 'function', function: { name: 'route' } }] } } });
      reasons.add(c.choices[0]!.finish_reason);
    }
    expect(reasons).toEqual(new Set(['stop', 'tool_calls']));
  });

  it('refuses allowed_tools naming a tool that is not in tools', () => {
    const r = rejected({ model: 'gpt-4o-mini', messages: user('x'), tools: [fnTool('route')], tool_choice: { type: 'allowed_tools', allowed_tools: { mode: 'auto', tools: [{ type: 'function', function: { name: 'nope' } }] } } });
    expect(r.status).toBe(400);
    expect(r.error.message).toContain("'nope'");
  });
});

describe('reasoning models', () => {
  it('report reasoning_tokens, billed inside completion_tokens, more at higher effort', () => {
    const base = { model: 'o4-mini', messages: user('Plan a trip to Lyon') };
    const low = complete({ ...base, reasoning_effort: 'low' });
    const high = complete({ ...base, reasoning_effort: 'high' });
    for (const c of [low, high]) {
      const r = c.usage.completion_tokens_details.reasoning_tokens;
      expect(r).toBeGreaterThan(0);
      const visible = c.choices.reduce((s, x) => s + Math.ceil((x.message.content ?? '').length / 4), 0);
      expect(c.usage.completion_tokens).toBe(visible + r);
      expect(c.usage.total_tokens).toBe(c.usage.prompt_tokens + c.usage.completion_tokens);
    }
    expect(high.usage.completion_tokens_details.reasoning_tokens).toBeGreaterThan(low.usage.completion_tokens_details.reasoning_tokens);
    expect(complete({ messages: user('Plan a trip to Lyon') }).usage.completion_tokens_details.reasoning_tokens).toBe(0);
  });

  it('spend max_completion_tokens on reasoning first: a small budget leaves an empty answer, finish_reason length', () => {
    const c = complete({ model: 'gpt-5-mini', messages: user('Plan a trip to Lyon'), max_completion_tokens: 16 });
    expect(c.choices[0]!.finish_reason).toBe('length');
    expect(c.choices[0]!.message.content).toBe('');
    expect(c.usage.completion_tokens).toBe(16);
    expect(c.usage.completion_tokens_details.reasoning_tokens).toBe(16);
  });

  it("reject the parameters the API rejects for them, with the API's codes", () => {
    const m = { model: 'o4-mini', messages: user('x') };
    const maxTokens = rejected({ ...m, max_tokens: 100 });
    expect(maxTokens).toMatchObject({ status: 400, error: { param: 'max_tokens', code: 'unsupported_parameter' } });
    expect(maxTokens.error.message).toContain("Use 'max_completion_tokens' instead.");
    expect(rejected({ ...m, model: 'gpt-5', temperature: 0.5 })).toMatchObject({
      status: 400,
      error: { param: 'temperature', code: 'unsupported_value', message: "Unsupported value: 'temperature' does not support 0.5 with this model. Only the default (1) value is supported." },
    });
    expect(rejected({ ...m, model: 'o3', top_p: 0.9 }).error).toMatchObject({ param: 'top_p', code: 'unsupported_value' });
    expect(rejected({ ...m, presence_penalty: 0.5 }).error).toMatchObject({ param: 'presence_penalty', code: 'unsupported_value' });
    expect(rejected({ ...m, frequency_penalty: -1 }).error).toMatchObject({ param: 'frequency_penalty', code: 'unsupported_value' });
    expect(rejected({ ...m, logprobs: true }).status).toBe(403);
    // The defaults themselves are accepted, and gpt-5-chat is not a reasoning model.
    complete({ ...m, temperature: 1, top_p: 1, max_completion_tokens: 500 });
    complete({ ...m, model: 'gpt-5-chat-latest', temperature: 0.2, max_tokens: 50 });
  });

  it('reasoning_effort is refused by models that do not reason, and checked against the schema values', () => {
    expect(rejected({ model: 'gpt-4o-mini', messages: user('x'), reasoning_effort: 'low' }).error).toMatchObject({ param: 'reasoning_effort', code: 'unsupported_parameter' });
    expect(rejected({ model: 'o4-mini', messages: user('x'), reasoning_effort: 'extreme' }).error).toMatchObject({ param: 'reasoning_effort', code: 'invalid_value' });
  });
});

describe('a path without /v1', () => {
  it('is answered 404 with an OpenAI error envelope that suggests /v1', async () => {
    const sim = await startSimulator({});
    try {
      const base = sim.url.replace(/\/v1$/, '');
      const res = await fetch(`${base}/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'gpt-4o-mini', messages: user('x') }) });
      expect(res.status).toBe(404);
      const body = (await res.json()) as { error: { message: string } };
      expectSpecValid(validateError, body);
      expect(body.error.message).toContain('Invalid URL (POST /chat/completions)');
      expect(body.error.message).toContain('did you mean POST /v1/chat/completions?');
      const other = (await (await fetch(`${sim.url}/nothing`)).json()) as { error: { message: string } };
      expect(other.error.message).toBe('Invalid URL (GET /v1/nothing)');
    } finally {
      await sim.close();
    }
  });
});
