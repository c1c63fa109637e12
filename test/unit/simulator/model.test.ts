import { describe, expect, it } from 'vitest';
import { CONTENT_FILTER_TRIGGER, simulateCompletion, type SimulatorOptions } from '../../../src/simulator/index.js';
import { expectSpecValid, makeSchemaCheck, sampleSchema, validateCompletion } from './spec.js';

interface Choice {
  index: number;
  finish_reason: string;
  message: { content: string | null; tool_calls?: { id: string; function: { name: string; arguments: string } }[] };
}
interface Completion {
  id: string;
  model: string;
  choices: Choice[];
  usage: { prompt_tokens: number; completion_tokens: number; total_tokens: number };
}

function complete(body: Record<string, unknown>, options: SimulatorOptions = {}): Completion {
  const reply = simulateCompletion({ model: 'gpt-4o-mini', ...body }, options);
  expect(reply.status, JSON.stringify(reply.body)).toBe(200);
  expectSpecValid(validateCompletion, reply.body);
  return reply.body as Completion;
}

const user = (content: string) => [{ role: 'user', content }];
const jsonRow = (i: number) => ({ response_format: { type: 'json_object' }, messages: user(`Row ${i}: classify "item ${i * 7}" and answer in JSON.`) });
const contents = (c: Completion) => c.choices.map((x) => x.message.content);

function isJsonObject(text: string | null): boolean {
  try {
    const v: unknown = JSON.parse(text ?? '');
    return typeof v === 'object' && v !== null && !Array.isArray(v);
  } catch {
    return false;
  }
}

describe('simulateCompletion: text and determinism', () => {
  it('answers plain text that validates against the official response schema', () => {
    const c = complete({ messages: [{ role: 'system', content: 'Be brief.' }, ...user('What is the capital of France?')] });
    expect(c.model).toBe('gpt-4o-mini');
    expect(c.id).toMatch(/^chatcmpl-[0-9a-f]{24}$/);
    expect(c.choices).toHaveLength(1);
    expect(c.choices[0]?.finish_reason).toBe('stop');
    expect(c.choices[0]?.message.content).toMatch(/capital of France/);
    // prompt: ceil(9/4)+4 + ceil(30/4)+4 = 7 + 12
    expect(c.usage.prompt_tokens).toBe(19);
    expect(c.usage.completion_tokens).toBe(Math.ceil((c.choices[0]?.message.content ?? '').length / 4));
    expect(c.usage.total_tokens).toBe(c.usage.prompt_tokens + c.usage.completion_tokens);
  });

  it('gives n=3 choices with indexes 0..2 and usage summed over choices', () => {
    const c = complete({ n: 3, temperature: 1.2, messages: user('Name a colour.') });
    expect(c.choices.map((x) => x.index)).toEqual([0, 1, 2]);
    const sum = c.choices.reduce((s, x) => s + Math.ceil((x.message.content ?? '').length / 4), 0);
    expect(c.usage.completion_tokens).toBe(sum);
  });

  it('is deterministic for the same request and seed, including the id', () => {
    const body = { n: 4, temperature: 1.5, messages: user('Tell me about owls.') };
    expect(complete(body)).toMatchObject({ id: complete(body).id, choices: complete(body).choices });
    expect(contents(complete(body, { seed: 7 }))).toEqual(contents(complete(body, { seed: 7 })));
    expect(contents(complete(body, { seed: 7 }))).not.toEqual(contents(complete(body, { seed: 8 })));
    expect(contents(complete({ ...body, seed: 1 }))).not.toEqual(contents(complete({ ...body, seed: 2 })));
  });

  it('makes every choice identical at temperature 0, and different rows answer differently', () => {
    const a = complete({ n: 5, temperature: 0, messages: user('Row A: describe a cat.') });
    expect(new Set(contents(a)).size).toBe(1);
    const answers = new Set<string | null>();
    for (let i = 0; i < 20; i++) answers.add(contents(complete({ temperature: 0, ...jsonRow(i) }, { schema: sampleSchema }))[0] ?? null);
    expect(answers.size).toBeGreaterThanOrEqual(15);
  });

  it('gives more distinct choices at higher temperature', () => {
    const distinct = (temperature: number) => {
      let total = 0;
      for (let i = 0; i < 60; i++) total += new Set(contents(complete({ n: 4, temperature, messages: user(`Question ${i}?`) }))).size;
      return total / 60;
    };
    const low = distinct(0.2);
    const high = distinct(1.2);
    expect(low).toBeLessThan(2);
    expect(high).toBeGreaterThan(3);
  });
});

describe('simulateCompletion: JSON quality', () => {
  const check = makeSchemaCheck(sampleSchema);

  function rates(temperature: number, top_p = 1): { invalid: number; violating: number } {
    let invalid = 0;
    let violating = 0;
    const N = 300;
    for (let i = 0; i < N; i++) {
      const content = contents(complete({ temperature, top_p, ...jsonRow(i) }, { schema: sampleSchema }))[0] ?? null;
      if (!isJsonObject(content)) invalid++;
      else if (!check(JSON.parse(content ?? ''))) violating++;
    }
    return { invalid: invalid / N, violating: violating / N };
  }

  it('is always schema-valid at temperature 0', () => {
    expect(rates(0)).toEqual({ invalid: 0, violating: 0 });
  });

  it('breaks JSON and the schema more often as temperature and top_p rise (0.45 / 0.35 × spread^1.5)', () => {
    const mid = rates(1); // spread 0.5 → 0.16 invalid, 0.12 violating
    const hot = rates(2); // spread 1 → 0.45 invalid, 0.35 violating
    expect(mid.invalid).toBeGreaterThan(0.08);
    expect(mid.invalid).toBeLessThan(0.26);
    expect(mid.violating).toBeGreaterThan(0.05);
    expect(mid.violating).toBeLessThan(0.2);
    expect(hot.invalid).toBeGreaterThan(0.35);
    expect(hot.invalid).toBeLessThan(0.55);
    expect(hot.violating).toBeGreaterThan(0.25);
    expect(hot.violating).toBeLessThan(0.45);
    expect(rates(2, 0.3).invalid).toBeLessThan(hot.invalid / 2); // top_p narrows the spread
  });

  it('prefers response_format.json_schema.schema over options.schema, and strict schemas never break', () => {
    const own = { type: 'object', properties: { city: { type: 'string', enum: ['Oslo', 'Lima'] } }, required: ['city'], additionalProperties: false };
    const ownCheck = makeSchemaCheck(own);
    for (let i = 0; i < 80; i++) {
      const c = complete(
        { temperature: 2, messages: user(`Row ${i}`), response_format: { type: 'json_schema', json_schema: { name: 'city', strict: true, schema: own } } },
        { schema: sampleSchema },
      );
      expect(ownCheck(JSON.parse(contents(c)[0] ?? ''))).toBe(true);
    }
  });

  it('answers a small object without a schema', () => {
    const v = JSON.parse(contents(complete({ temperature: 0, ...jsonRow(1) }))[0] ?? '') as Record<string, unknown>;
    expect(typeof v['answer']).toBe('string');
    expect(typeof v['confidence']).toBe('number');
  });

  it('answers JSON in text mode when the prompt asks for it, fenced or wrapped about a quarter of the time', () => {
    let wrapped = 0;
    for (let i = 0; i < 300; i++) {
      const content = contents(complete({ temperature: 0, messages: user(`Row ${i}: reply with JSON only.`) }, { schema: sampleSchema }))[0] ?? null;
      if (!isJsonObject(content)) wrapped++;
      expect(content).toMatch(/label/);
    }
    expect(wrapped / 300).toBeGreaterThan(0.15);
    expect(wrapped / 300).toBeLessThan(0.35);
  });

  it('keeps typical schema answers short (under ~120 tokens)', () => {
    for (let i = 0; i < 50; i++) {
      const c = complete({ temperature: 0, ...jsonRow(i) }, { schema: sampleSchema });
      expect(c.usage.completion_tokens).toBeLessThanOrEqual(120);
    }
  });
});

describe('simulateCompletion: finish reasons', () => {
  it('truncates to max_tokens * 4 characters with finish_reason length', () => {
    for (const key of ['max_tokens', 'max_completion_tokens']) {
      const c = complete({ temperature: 0, [key]: 5, messages: user('Explain the history of Rome in detail.') });
      expect(c.choices[0]?.finish_reason).toBe('length');
      expect(c.choices[0]?.message.content).toHaveLength(20);
      expect(c.usage.completion_tokens).toBe(5);
    }
    const roomy = complete({ temperature: 0, max_tokens: 500, messages: user('Hi') });
    expect(roomy.choices[0]?.finish_reason).toBe('stop');
  });

  it('cuts at a stop sequence', () => {
    const full = contents(complete({ temperature: 0, messages: user('Tell me about owls.') }))[0] ?? '';
    const c = complete({ temperature: 0, stop: ['owls'], messages: user('Tell me about owls.') });
    expect(c.choices[0]?.message.content).toBe(full.slice(0, full.indexOf('owls')));
    expect(c.choices[0]?.finish_reason).toBe('stop');
  });

  it(`filters every choice when a message contains ${CONTENT_FILTER_TRIGGER}`, () => {
    const c = complete({ n: 2, messages: user(`please ${CONTENT_FILTER_TRIGGER} now`) });
    for (const ch of c.choices) {
      expect(ch.finish_reason).toBe('content_filter');
      expect(ch.message.content).toBeNull();
    }
    expect(c.usage.completion_tokens).toBe(0);
  });

  const weather = {
    type: 'function',
    function: {
      name: 'get_weather',
      parameters: { type: 'object', properties: { city: { type: 'string' }, unit: { type: 'string', enum: ['c', 'f'] } }, required: ['city', 'unit'] },
    },
  };
  const time = { type: 'function', function: { name: 'get_time' } };

  it('calls a tool with schema-valid arguments when tool_choice requires it', () => {
    const check = makeSchemaCheck(weather.function.parameters);
    for (const tool_choice of ['required', { type: 'function', function: { name: 'get_weather' } }]) {
      const c = complete({ n: 3, tools: [weather, time], tool_choice, messages: user('Weather in Oslo?') });
      for (const ch of c.choices) {
        expect(ch.finish_reason).toBe('tool_calls');
        expect(ch.message.content).toBeNull();
        const call = ch.message.tool_calls?.[0];
        expect(call?.id).toMatch(/^call_[0-9a-f]{24}$/);
        if (typeof tool_choice === 'object' || call?.function.name === 'get_weather') {
          expect(call?.function.name).toBe('get_weather');
          expect(check(JSON.parse(call?.function.arguments ?? ''))).toBe(true);
        } else expect(call?.function.arguments).toBe('{}');
      }
    }
  });

  it('calls a tool in about half the choices with tool_choice auto, never with none', () => {
    let calls = 0;
    for (let i = 0; i < 200; i++) {
      const c = complete({ tools: [weather], messages: user(`Row ${i}`) });
      if (c.choices[0]?.finish_reason === 'tool_calls') calls++;
      const none = complete({ tools: [weather], tool_choice: 'none', messages: user(`Row ${i}`) });
      expect(none.choices[0]?.message.tool_calls).toBeUndefined();
    }
    expect(calls).toBeGreaterThan(70);
    expect(calls).toBeLessThan(130);
  });
});
