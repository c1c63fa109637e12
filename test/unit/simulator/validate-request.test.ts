import { describe, expect, it } from 'vitest';
import { simulateCompletion, type SimulatorOptions } from '../../../src/simulator/index.js';
import { expectSpecValid, validateError } from './spec.js';

const ok = { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Hello' }] };

function rejected(body: unknown, options: SimulatorOptions = {}): { status: number; error: { message: string; type: string; param: string | null; code: string | null } } {
  const reply = simulateCompletion(body, options);
  expectSpecValid(validateError, reply.body);
  return { status: reply.status, error: (reply.body as { error: { message: string; type: string; param: string | null; code: string | null } }).error };
}

function expect400(body: unknown, param: string | null, code: string | null, message?: string | RegExp): void {
  const { status, error } = rejected(body);
  expect(status).toBe(400);
  expect(error.type).toBe('invalid_request_error');
  expect(error.param).toBe(param);
  expect(error.code).toBe(code);
  if (typeof message === 'string') expect(error.message).toBe(message);
  else if (message) expect(error.message).toMatch(message);
}

describe('request validation (400 invalid_request_error, like the API)', () => {
  it('rejects bodies that are not JSON objects with the API parse message', () => {
    for (const body of [undefined, null, 'text', [1, 2], 42]) expect400(body, null, null, /^We could not parse the JSON body of your request\./);
  });

  it('requires a model and messages', () => {
    expect400({ messages: ok.messages }, null, null, 'you must provide a model parameter');
    expect400({ model: 1, messages: ok.messages }, 'model', 'invalid_type');
    expect400({ model: 'm' }, 'messages', 'missing_required_parameter', "Missing required parameter: 'messages'.");
    expect400({ model: 'm', messages: 'hi' }, 'messages', 'invalid_type');
    expect400({ model: 'm', messages: [] }, 'messages', 'empty_array', /empty array/);
  });

  it('checks each message role and content', () => {
    expect400({ model: 'm', messages: ['hi'] }, 'messages[0]', 'invalid_type');
    expect400({ model: 'm', messages: [{ content: 'x' }] }, 'messages[0].role', 'missing_required_parameter');
    expect400({ model: 'm', messages: [{ role: 'user', content: 'a' }, { role: 'robot', content: 'x' }] }, 'messages[1].role', 'invalid_value', /^Invalid value: 'robot'\. Supported values are: /);
    expect400({ model: 'm', messages: [{ role: 'user' }] }, 'messages[0].content', 'missing_required_parameter');
    expect400({ model: 'm', messages: [{ role: 'user', content: 5 }] }, 'messages[0].content', 'invalid_type');
    expect400({ model: 'm', messages: [{ role: 'tool', content: 'r' }] }, 'messages[0].tool_call_id', 'missing_required_parameter');
    for (const role of ['system', 'developer', 'user', 'assistant']) expect(simulateCompletion({ model: 'm', messages: [{ role, content: 'x' }] }, {}).status).toBe(200);
    const parts = { model: 'm', messages: [{ role: 'user', content: [{ type: 'text', text: 'hi' }] }, { role: 'assistant', content: null, tool_calls: [] }] };
    expect(simulateCompletion(parts, {}).status).toBe(200);
  });

  it('uses the API wording for numeric ranges', () => {
    expect400({ ...ok, temperature: 2.5 }, 'temperature', 'decimal_above_max_value',
      "Invalid 'temperature': decimal above maximum value. Expected a value <= 2, but got 2.5 instead.");
    expect400({ ...ok, temperature: -0.1 }, 'temperature', 'decimal_below_min_value',
      "Invalid 'temperature': decimal below minimum value. Expected a value >= 0, but got -0.1 instead.");
    expect400({ ...ok, n: 0 }, 'n', 'integer_below_min_value', "Invalid 'n': integer below minimum value. Expected a value >= 1, but got 0 instead.");
    expect400({ ...ok, n: 129 }, 'n', 'integer_above_max_value', "Invalid 'n': integer above maximum value. Expected a value <= 128, but got 129 instead.");
    expect400({ ...ok, n: 1.5 }, 'n', 'invalid_type', "Invalid type for 'n': expected an integer, but got a decimal instead.");
    expect400({ ...ok, temperature: 'hot' }, 'temperature', 'invalid_type', "Invalid type for 'temperature': expected a decimal, but got a string instead.");
    expect400({ ...ok, top_p: 1.01 }, 'top_p', 'decimal_above_max_value');
    expect400({ ...ok, max_tokens: 0 }, 'max_tokens', 'integer_below_min_value');
    expect400({ ...ok, max_completion_tokens: 0 }, 'max_completion_tokens', 'integer_below_min_value');
    expect400({ ...ok, presence_penalty: 2.1 }, 'presence_penalty', 'decimal_above_max_value');
    expect400({ ...ok, frequency_penalty: -2.1 }, 'frequency_penalty', 'decimal_below_min_value');
    expect(simulateCompletion({ ...ok, temperature: 2, top_p: 0, n: 128, presence_penalty: -2, frequency_penalty: 2 }, {}).status).toBe(200);
    expect(simulateCompletion({ ...ok, temperature: null, n: null, max_tokens: null }, {}).status).toBe(200);
  });

  it('allows at most 4 stop strings', () => {
    expect400({ ...ok, stop: ['a', 'b', 'c', 'd', 'e'] }, 'stop', 'array_above_max_length', /maximum length 4, but got an array with length 5/);
    expect400({ ...ok, stop: [1] }, 'stop[0]', 'invalid_type');
    expect(simulateCompletion({ ...ok, stop: ['a', 'b', 'c', 'd'] }, {}).status).toBe(200);
    expect(simulateCompletion({ ...ok, stop: 'a' }, {}).status).toBe(200);
  });

  it("requires the word 'json' in the messages for json_object", () => {
    expect400({ ...ok, response_format: { type: 'json_object' } }, 'messages', null,
      "'messages' must contain the word 'json' in some form, to use 'response_format' of type 'json_object'.");
    const withWord = { model: 'm', response_format: { type: 'json_object' }, messages: [{ role: 'system', content: 'Reply in JSON.' }, { role: 'user', content: 'hi' }] };
    expect(simulateCompletion(withWord, {}).status).toBe(200);
  });

  it('checks response_format', () => {
    expect400({ ...ok, response_format: { type: 'xml' } }, 'response_format.type', 'invalid_value',
      "Invalid value: 'xml'. Supported values are: 'text', 'json_object', and 'json_schema'.");
    expect400({ ...ok, response_format: 'json' }, 'response_format', 'invalid_type');
    expect400({ ...ok, response_format: { type: 'json_schema' } }, 'response_format.json_schema', 'missing_required_parameter');
    expect400({ ...ok, response_format: { type: 'json_schema', json_schema: { schema: {} } } }, 'response_format.json_schema.name', 'missing_required_parameter');
    expect(simulateCompletion({ ...ok, response_format: { type: 'json_schema', json_schema: { name: 'x' } } }, {}).status).toBe(200);
    expect(simulateCompletion({ ...ok, response_format: { type: 'text' } }, {}).status).toBe(200);
  });

  it('checks tools and tool_choice', () => {
    expect400({ ...ok, tools: [] }, 'tools', 'empty_array');
    expect400({ ...ok, tools: [{ type: 'function', function: {} }] }, 'tools[0].function.name', 'missing_required_parameter');
    expect400({ ...ok, tool_choice: 'required' }, 'tool_choice', null, /only allowed when 'tools' are specified/);
    const tools = [{ type: 'function', function: { name: 'f' } }];
    expect400({ ...ok, tools, tool_choice: 'sometimes' }, 'tool_choice', 'invalid_value');
    expect400({ ...ok, tools, tool_choice: { type: 'function', function: { name: 'g' } } }, 'tool_choice', 'invalid_value');
  });

  it('refuses streaming', () => {
    expect400({ ...ok, stream: true }, 'stream', 'unsupported_value', /Streaming is not supported/);
  });

  it('answers 404 model_not_found for unknown models only with strict_models', () => {
    const body = { ...ok, model: 'gpt-9' };
    expect(simulateCompletion(body, {}).status).toBe(200);
    const { status, error } = rejected(body, { strict_models: true });
    expect(status).toBe(404);
    expect(error).toMatchObject({ type: 'invalid_request_error', code: 'model_not_found', param: null });
    expect(error.message).toBe('The model `gpt-9` does not exist or you do not have access to it.');
    expect(simulateCompletion(body, { strict_models: true, models: ['gpt-9'] }).status).toBe(200);
  });
});
