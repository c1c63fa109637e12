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
  /** `function` tools answer JSON arguments; `custom` tools (type: custom) answer free text input. */
  kind: 'function' | 'custom';
  name: string;
  parameters: object | undefined;
}

/**
 * A mode, one named tool (function or custom), or `allowed_tools`: the model may only call tools of that subset,
 * and with mode `auto` may answer in text instead.
 */
export type ToolChoice = 'none' | 'auto' | 'required' | { name: string } | { allowed: string[]; mode: 'auto' | 'required' };

export type ReasoningEffort = 'none' | 'minimal' | 'low' | 'medium' | 'high' | 'xhigh' | 'max';
/** The schema's ReasoningEffort values (test/fixtures/openai-spec, CreateChatCompletionRequest.reasoning_effort). */
const EFFORTS: readonly ReasoningEffort[] = ['none', 'minimal', 'low', 'medium', 'high', 'xhigh', 'max'];

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
  /** `logprobs: true`: every choice carries token log probabilities; `top_logprobs` alternatives per token. */
  logprobs: boolean;
  topLogprobs: number;
  /** A reasoning model (o-series, gpt-5 family): its answers spend reasoning tokens first. */
  reasoning: boolean;
  reasoningEffort: ReasoningEffort;
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

  const logprobs = body['logprobs'];
  if (logprobs !== undefined && logprobs !== null && typeof logprobs !== 'boolean') return badType('logprobs', 'a boolean', logprobs);
  if (body['top_logprobs'] !== undefined && body['top_logprobs'] !== null && logprobs !== true) {
    return invalidRequest("Invalid value for 'top_logprobs': 'logprobs' must be set to true when 'top_logprobs' is set.", 'top_logprobs', 'invalid_value');
  }
  const effort = body['reasoning_effort'];
  if (effort !== undefined && effort !== null && !EFFORTS.includes(effort as ReasoningEffort)) {
    return invalidRequest(`Invalid value: '${String(effort)}'. Supported values are: ${EFFORTS.map((e) => `'${e}'`).join(', ')}.`, 'reasoning_effort', 'invalid_value');
  }
  const reasoning = isReasoningModel(model);
  const rule = reasoning ? reasoningModelRule(body) : nonReasoningRule(body);
  if (rule) return rule;

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
    model, messages, stop, ...fmt, ...tools, promptTokens, mentionsJson, filtered, lastUserText, reasoning,
    logprobs: logprobs === true,
    topLogprobs: num('top_logprobs') ?? 0,
    reasoningEffort: (effort as ReasoningEffort | null | undefined) ?? 'medium',
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
      if (t['type'] === 'custom') {
        const custom = t['custom'];
        if (!isObj(custom)) return missing(`tools[${i}].custom`);
        if (typeof custom['name'] !== 'string') return missing(`tools[${i}].custom.name`);
        tools.push({ kind: 'custom', name: custom['name'], parameters: undefined });
        continue;
      }
      if (t['type'] !== undefined && t['type'] !== 'function') {
        return invalidRequest(`Invalid value: '${String(t['type'])}'. Supported values are: 'function' and 'custom'.`, `tools[${i}].type`, 'invalid_value');
      }
      const fn = t['function'];
      if (!isObj(fn)) return missing(`tools[${i}].function`);
      if (typeof fn['name'] !== 'string') return missing(`tools[${i}].function.name`);
      const params = fn['parameters'];
      tools.push({ kind: 'function', name: fn['name'], parameters: isObj(params) ? params : undefined });
    }
  }
  if (choiceRaw === undefined || choiceRaw === null) return { tools, toolChoice: tools.length ? 'auto' : 'none' };
  if (tools.length === 0 && choiceRaw !== 'none') {
    return invalidRequest("Invalid value for 'tool_choice': 'tool_choice' is only allowed when 'tools' are specified.", 'tool_choice', null);
  }
  if (choiceRaw === 'none' || choiceRaw === 'auto' || choiceRaw === 'required') return { tools, toolChoice: choiceRaw };
  const named = namedTool(choiceRaw);
  if (named) {
    if (!tools.some((t) => t.name === named.name && t.kind === named.kind)) {
      return invalidRequest(`Invalid value for 'tool_choice': ${named.kind} '${named.name}' is not one of the 'tools'.`, 'tool_choice', 'invalid_value');
    }
    return { tools, toolChoice: { name: named.name } };
  }
  if (isObj(choiceRaw) && choiceRaw['type'] === 'allowed_tools') {
    const allowed = choiceRaw['allowed_tools'];
    if (!isObj(allowed)) return missing('tool_choice.allowed_tools');
    const mode = allowed['mode'];
    if (mode !== 'auto' && mode !== 'required') {
      return invalidRequest(`Invalid value: '${String(mode)}'. Supported values are: 'auto' and 'required'.`, 'tool_choice.allowed_tools.mode', 'invalid_value');
    }
    const list = allowed['tools'];
    if (!Array.isArray(list)) return badType('tool_choice.allowed_tools.tools', 'an array of objects', list);
    if (list.length === 0) {
      return invalidRequest("Invalid 'tool_choice.allowed_tools.tools': empty array. Expected an array with minimum length 1, but got an empty array instead.", 'tool_choice.allowed_tools.tools', 'empty_array');
    }
    const names: string[] = [];
    for (let i = 0; i < list.length; i++) {
      const n = namedTool(list[i]);
      if (!n) return invalidRequest(`Invalid value for 'tool_choice.allowed_tools.tools[${i}]': expected a function or custom tool with a name.`, `tool_choice.allowed_tools.tools[${i}]`, 'invalid_value');
      if (!tools.some((t) => t.name === n.name && t.kind === n.kind)) {
        return invalidRequest(`Invalid value for 'tool_choice.allowed_tools.tools[${i}]': ${n.kind} '${n.name}' is not one of the 'tools'.`, `tool_choice.allowed_tools.tools[${i}]`, 'invalid_value');
      }
      names.push(n.name);
    }
    return { tools, toolChoice: { allowed: names, mode } };
  }
  return invalidRequest(
    "Invalid value for 'tool_choice': expected 'none', 'auto', 'required', a named function or custom tool, or allowed_tools.",
    'tool_choice',
    'invalid_value',
  );
}

/** `{type: function, function: {name}}` or `{type: custom, custom: {name}}` (type may be left out for a function). */
function namedTool(v: unknown): { kind: 'function' | 'custom'; name: string } | undefined {
  if (!isObj(v)) return undefined;
  if (v['type'] === 'custom') return isObj(v['custom']) && typeof v['custom']['name'] === 'string' ? { kind: 'custom', name: v['custom']['name'] } : undefined;
  if (v['type'] !== undefined && v['type'] !== 'function') return undefined;
  return isObj(v['function']) && typeof v['function']['name'] === 'string' ? { kind: 'function', name: v['function']['name'] } : undefined;
}

/*
 * Reasoning models. The schema cannot express which parameters they refuse, so these rules come from the API's
 * observed answers (wording and codes copied from them):
 * - o-series (o1, o3, o3-mini, o4-mini, …) and the gpt-5 family (gpt-5, gpt-5-mini, gpt-5-nano, gpt-5.x; not the
 *   gpt-5-chat models) are reasoning models: the spec's README, /work/shared/openai-spec "Points to watch"
 *   ("Reasoning models (o-series, gpt-5 family) reject `max_tokens` and any temperature other than 1");
 *   community.openai.com/t/developer-role-not-accepted-for-o1-o1-mini-o3-mini/1110750/7 (a table of what o1/o3-mini
 *   reject: max_tokens, temperature & top_p, logprobs, the penalties; reasoning_effort only on reasoning models).
 * - max_tokens → 400 unsupported_parameter "Unsupported parameter: 'max_tokens' is not supported with this model.
 *   Use 'max_completion_tokens' instead." (github.com/teilomillet/gollm/issues/33 for o1/o3-mini,
 *   github.com/griptape-ai/ComfyUI-Griptape/issues/312 for gpt-5, with type, param and code).
 * - temperature other than 1 → 400 unsupported_value "Unsupported value: 'temperature' does not support 0.5 with
 *   this model. Only the default (1) value is supported." (github.com/diffbot/code-gpt-docs/issues/445,
 *   github.com/tmc/langchaingo/issues/1355 for gpt-5). top_p and the penalties follow the same rule here, with
 *   their own defaults (1 and 0): an explicit default is accepted, as it is for temperature.
 * - logprobs: true → 403 "You are not allowed to request logprobs from this model" (o4-mini,
 *   github.com/confident-ai/deepeval/pull/2184); "logprobs are not supported for reasoning models"
 *   (github.com/UKGovernmentBEIS/inspect_ai/pull/2739).
 * - reasoning_effort on a non-reasoning model → 400 unsupported_parameter (the community table above).
 * Reasoning tokens are billed as completion tokens and reported in usage.completion_tokens_details.reasoning_tokens
 * (CompletionUsage in the spec: "like reasoning tokens, these tokens are still counted in the total completion
 * tokens"); max_completion_tokens bounds reasoning and visible tokens together.
 */
const REASONING_MODEL = /^(o\d+(-[a-z0-9-]+)?|gpt-5(\.\d+)?(-(mini|nano|pro|codex)[a-z0-9.-]*)?(-\d{4}-\d{2}-\d{2})?)$/;

export function isReasoningModel(model: string): boolean {
  return REASONING_MODEL.test(model) && !/-chat/.test(model);
}

function unsupportedParameter(param: string, extra = ''): ApiErrorInfo {
  return invalidRequest(`Unsupported parameter: '${param}' is not supported with this model.${extra}`, param, 'unsupported_parameter');
}

function reasoningModelRule(body: Record<string, unknown>): ApiErrorInfo | undefined {
  if (body['max_tokens'] !== undefined && body['max_tokens'] !== null) return unsupportedParameter('max_tokens', " Use 'max_completion_tokens' instead.");
  for (const [param, def] of [['temperature', 1], ['top_p', 1], ['presence_penalty', 0], ['frequency_penalty', 0]] as const) {
    const v = body[param];
    if (v !== undefined && v !== null && v !== def) {
      return invalidRequest(`Unsupported value: '${param}' does not support ${String(v)} with this model. Only the default (${def}) value is supported.`, param, 'unsupported_value');
    }
  }
  if (body['logprobs'] === true) {
    return { status: 403, message: 'You are not allowed to request logprobs from this model', type: 'invalid_request_error', param: null, code: null };
  }
  return undefined;
}

function nonReasoningRule(body: Record<string, unknown>): ApiErrorInfo | undefined {
  return body['reasoning_effort'] !== undefined && body['reasoning_effort'] !== null ? unsupportedParameter('reasoning_effort') : undefined;
}
