/**
 * Checks a chat-completions body the way the API does and normalises it. Messages follow the API's wording and
 * error codes where known, because the pipeline (and its users) see these texts verbatim.
 */
import { invalidRequest, type ApiErrorInfo } from './errors.js';
import { contentText, tokensOf, TOKENS_PER_MESSAGE } from './tokens.js';

export const CONTENT_FILTER_TRIGGER = 'EVALRUN_FILTER_ME';

export const JSON_WORD_MESSAGE =
  "'messages' must contain the word 'json' in some form, to use 'response_format' of type 'json_object'.";

export interface ToolSpec {
  name: string;
  parameters: object | undefined;
}

export type ToolChoice = 'none' | 'auto' | 'required' | { name: string };

export interface ChatRequest {
  model: string;
  messages: unknown[];
  n: number;
  temperature: number;
  topP: number;
  maxTokens: number | undefined;
  stop: string[];
  seed: number | undefined;
  format: 'text' | 'json_object' | 'json_schema';
  /** response_format.json_schema.schema, if any. */
  formatSchema: object | undefined;
  /** json_schema with strict: true (structured outputs never break the schema). */
  strictSchema: boolean;
  tools: ToolSpec[];
  toolChoice: ToolChoice;
  promptTokens: number;
  mentionsJson: boolean;
  filtered: boolean;
  lastUserText: string;
}

const ROLES = new Set(['system', 'developer', 'user', 'assistant', 'tool']);
const ROLE_LIST = "'system', 'developer', 'user', 'assistant', and 'tool'";

function typeName(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'number') return Number.isInteger(v) ? 'an integer' : 'a decimal';
  if (typeof v === 'object') return 'an object';
  return `a ${typeof v}`;
}

const badType = (param: string, expected: string, v: unknown): ApiErrorInfo =>
  invalidRequest(`Invalid type for '${param}': expected ${expected}, but got ${typeName(v)} instead.`, param, 'invalid_type');
const missing = (param: string): ApiErrorInfo =>
  invalidRequest(`Missing required parameter: '${param}'.`, param, 'missing_required_parameter');
const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Returns an error for an out-of-range or mistyped number; null/absent means "use the default". */
function checkNumber(body: Record<string, unknown>, key: string, min: number, max: number | undefined, integer: boolean): ApiErrorInfo | undefined {
  const v = body[key];
  if (v === undefined || v === null) return undefined;
  const kind = integer ? 'integer' : 'decimal';
  if (typeof v !== 'number' || !Number.isFinite(v) || (integer && !Number.isInteger(v))) {
    return badType(key, integer ? 'an integer' : 'a decimal', v);
  }
  if (v < min) {
    return invalidRequest(`Invalid '${key}': ${kind} below minimum value. Expected a value >= ${min}, but got ${v} instead.`, key, `${kind}_below_min_value`);
  }
  if (max !== undefined && v > max) {
    return invalidRequest(`Invalid '${key}': ${kind} above maximum value. Expected a value <= ${max}, but got ${v} instead.`, key, `${kind}_above_max_value`);
  }
  return undefined;
}

export function validateChatRequest(body: unknown): ChatRequest | ApiErrorInfo {
  if (!isObj(body)) return missing('model'); // unreachable from the server, which rejects non-objects as unparsable
  if (body['stream'] === true) {
    return invalidRequest('Streaming is not supported by the evalrun simulator; omit \'stream\' or set it to false.', 'stream', 'unsupported_value');
  }
  const model = body['model'];
  if (model === undefined || model === null) return invalidRequest('you must provide a model parameter', null, null);
  if (typeof model !== 'string') return badType('model', 'a string', model);

  const numberChecks: [string, number, number | undefined, boolean][] = [
    ['temperature', 0, 2, false], ['top_p', 0, 1, false], ['n', 1, 128, true],
    ['max_tokens', 1, undefined, true], ['max_completion_tokens', 1, undefined, true],
    ['presence_penalty', -2, 2, false], ['frequency_penalty', -2, 2, false],
    ['seed', -9223372036854775808, 9223372036854775807, true], ['top_logprobs', 0, 20, true],
  ];
  for (const [key, min, max, integer] of numberChecks) {
    const err = checkNumber(body, key, min, max, integer);
    if (err) return err;
  }

  const messages = body['messages'];
  if (messages === undefined || messages === null) return missing('messages');
  if (!Array.isArray(messages)) return badType('messages', 'an array of objects', messages);
  if (messages.length === 0) {
    return invalidRequest("Invalid 'messages': empty array. Expected an array with minimum length 1, but got an empty array instead.", 'messages', 'empty_array');
  }
  let promptTokens = 0;
  let mentionsJson = false;
  let filtered = false;
  let lastUserText = '';
  for (let i = 0; i < messages.length; i++) {
    const m: unknown = messages[i];
    const p = `messages[${i}]`;
    if (!isObj(m)) return badType(p, 'an object', m);
    const role = m['role'];
    if (role === undefined) return missing(`${p}.role`);
    if (typeof role !== 'string' || !ROLES.has(role)) {
      return invalidRequest(`Invalid value: '${String(role)}'. Supported values are: ${ROLE_LIST}.`, `${p}.role`, 'invalid_value');
    }
    const content = m['content'];
    if (content === undefined || content === null) {
      // Only an assistant turn that called tools may come without content.
      if (role !== 'assistant' || m['tool_calls'] === undefined) return missing(`${p}.content`);
    } else if (typeof content !== 'string' && !Array.isArray(content)) {
      return badType(`${p}.content`, 'one of a string or array of objects', content);
    }
    if (role === 'tool' && typeof m['tool_call_id'] !== 'string') return missing(`${p}.tool_call_id`);
    const text = contentText(content);
    promptTokens += tokensOf(text) + TOKENS_PER_MESSAGE;
    if (!mentionsJson && /json/i.test(text)) mentionsJson = true;
    if (!filtered && text.includes(CONTENT_FILTER_TRIGGER)) filtered = true;
    if (role === 'user') lastUserText = text;
  }

  const stopRaw = body['stop'];
  let stop: string[] = [];
  if (typeof stopRaw === 'string') stop = [stopRaw];
  else if (Array.isArray(stopRaw)) {
    if (stopRaw.length > 4) {
      return invalidRequest(`Invalid 'stop': array too long. Expected an array with maximum length 4, but got an array with length ${stopRaw.length} instead.`, 'stop', 'array_above_max_length');
    }
    for (let i = 0; i < stopRaw.length; i++) if (typeof stopRaw[i] !== 'string') return badType(`stop[${i}]`, 'a string', stopRaw[i]);
    stop = stopRaw as string[];
  } else if (stopRaw !== undefined && stopRaw !== null) return badType('stop', 'one of a string or array of strings', stopRaw);

  const fmt = parseResponseFormat(body['response_format']);
  if ('status' in fmt) return fmt;
  if (fmt.format === 'json_object' && !mentionsJson) return invalidRequest(JSON_WORD_MESSAGE, 'messages', null);

  const tools = parseTools(body['tools'], body['tool_choice']);
  if ('status' in tools) return tools;

  const num = (k: string): number | undefined => (typeof body[k] === 'number' ? (body[k] as number) : undefined);
  return {
    model, messages, stop, ...fmt, ...tools, promptTokens, mentionsJson, filtered, lastUserText,
    n: num('n') ?? 1,
    temperature: num('temperature') ?? 1,
    topP: num('top_p') ?? 1,
    maxTokens: num('max_completion_tokens') ?? num('max_tokens'),
    seed: num('seed'),
  };
}

type FormatPart = Pick<ChatRequest, 'format' | 'formatSchema' | 'strictSchema'>;

function parseResponseFormat(rf: unknown): FormatPart | ApiErrorInfo {
  if (rf === undefined || rf === null) return { format: 'text', formatSchema: undefined, strictSchema: false };
  if (!isObj(rf)) return badType('response_format', 'an object', rf);
  const type = rf['type'];
  if (type === undefined) return missing('response_format.type');
  if (type === 'text' || type === 'json_object') return { format: type, formatSchema: undefined, strictSchema: false };
  if (type !== 'json_schema') {
    return invalidRequest(`Invalid value: '${String(type)}'. Supported values are: 'text', 'json_object', and 'json_schema'.`, 'response_format.type', 'invalid_value');
  }
  const js = rf['json_schema'];
  if (js === undefined || js === null) return missing('response_format.json_schema');
  if (!isObj(js)) return badType('response_format.json_schema', 'an object', js);
  if (typeof js['name'] !== 'string') return missing('response_format.json_schema.name');
  const schema = js['schema'];
  if (schema !== undefined && schema !== null && !isObj(schema)) return badType('response_format.json_schema.schema', 'an object', schema);
  return { format: 'json_schema', formatSchema: isObj(schema) ? schema : undefined, strictSchema: js['strict'] === true };
}

function parseTools(raw: unknown, choiceRaw: unknown): Pick<ChatRequest, 'tools' | 'toolChoice'> | ApiErrorInfo {
  const tools: ToolSpec[] = [];
  if (raw !== undefined && raw !== null) {
    if (!Array.isArray(raw)) return badType('tools', 'an array of objects', raw);
    if (raw.length === 0) {
      return invalidRequest("Invalid 'tools': empty array. Expected an array with minimum length 1, but got an empty array instead.", 'tools', 'empty_array');
    }
    for (let i = 0; i < raw.length; i++) {
      const t: unknown = raw[i];
      if (!isObj(t)) return badType(`tools[${i}]`, 'an object', t);
      const fn = t['function'];
      if (!isObj(fn)) return missing(`tools[${i}].function`);
      if (typeof fn['name'] !== 'string') return missing(`tools[${i}].function.name`);
      const params = fn['parameters'];
      tools.push({ name: fn['name'], parameters: isObj(params) ? params : undefined });
    }
  }
  if (choiceRaw === undefined || choiceRaw === null) return { tools, toolChoice: tools.length ? 'auto' : 'none' };
  if (tools.length === 0 && choiceRaw !== 'none') {
    return invalidRequest("Invalid value for 'tool_choice': 'tool_choice' is only allowed when 'tools' are specified.", 'tool_choice', null);
  }
  if (choiceRaw === 'none' || choiceRaw === 'auto' || choiceRaw === 'required') return { tools, toolChoice: choiceRaw };
  if (isObj(choiceRaw) && isObj(choiceRaw['function']) && typeof choiceRaw['function']['name'] === 'string') {
    const name = choiceRaw['function']['name'];
    if (!tools.some((t) => t.name === name)) {
      return invalidRequest(`Invalid value for 'tool_choice': function '${name}' is not one of the 'tools'.`, 'tool_choice', 'invalid_value');
    }
    return { tools, toolChoice: { name } };
  }
  return invalidRequest("Invalid value for 'tool_choice': expected 'none', 'auto', 'required' or a named function.", 'tool_choice', 'invalid_value');
}
