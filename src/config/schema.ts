/**
 * JSON Schemas for the config file. Unknown keys are errors everywhere except inside `params`/`grid`, where a
 * server may accept parameters OpenAI does not (vLLM's `top_k`, say); `resolve.ts` knows those servers' parameters
 * and still catches typos of known names.
 */
import { JUDGE_PRESETS } from '../contracts/judge.js';

const num = (minimum: number, maximum: number) => ({ type: 'number', minimum, maximum });
const int = (minimum: number, maximum?: number) =>
  maximum === undefined ? { type: 'integer', minimum } : { type: 'integer', minimum, maximum };

/** Request parameters evalrun knows, with the API's own ranges, so a bad value fails before anything is sent. */
export const requestParamSchemas: Record<string, object> = {
  model: { type: 'string', minLength: 1 },
  temperature: num(0, 2),
  top_p: num(0, 1),
  n: int(1, 128),
  max_tokens: int(1),
  max_completion_tokens: int(1),
  presence_penalty: num(-2, 2),
  frequency_penalty: num(-2, 2),
  seed: { type: 'integer' },
  stop: {
    anyOf: [
      { type: 'string' },
      { type: 'array', items: { type: 'string' }, minItems: 1, maxItems: 4 },
      { type: 'null' },
    ],
  },
  response_format: {
    type: 'object',
    required: ['type'],
    properties: {
      type: { enum: ['text', 'json_object', 'json_schema'] },
      json_schema: {
        type: 'object',
        required: ['name'],
        properties: {
          name: { type: 'string' },
          description: { type: 'string' },
          schema: { type: 'object' },
          strict: { type: ['boolean', 'null'] },
        },
        additionalProperties: false,
      },
    },
    additionalProperties: false,
  },
  logprobs: { type: 'boolean' },
  top_logprobs: int(0, 20),
  logit_bias: { type: 'object', additionalProperties: { type: 'number', minimum: -100, maximum: 100 } },
  user: { type: 'string' },
  safety_identifier: { type: 'string' },
  prompt_cache_key: { type: 'string' },
  reasoning_effort: { enum: ['minimal', 'low', 'medium', 'high', 'none'] },
  verbosity: { enum: ['low', 'medium', 'high'] },
  service_tier: { enum: ['auto', 'default', 'flex', 'scale', 'priority'] },
  parallel_tool_calls: { type: 'boolean' },
  tools: { type: 'array', items: { type: 'object' } },
  tool_choice: {
    anyOf: [{ enum: ['none', 'auto', 'required'] }, { type: 'object', required: ['type'], properties: { type: { type: 'string' } } }],
  },
  store: { type: 'boolean' },
  metadata: { type: 'object', additionalProperties: { type: 'string' } },
  // Merged into the request body as written (build-plan.ts): parameters only the user's server knows.
  extra_body: { type: 'object' },
};

/** Keys that must never be set as parameters: evalrun owns them. */
export const reservedParams: Record<string, string> = {
  messages: 'messages come from the `messages` template or from the dataset rows',
  stream: 'evalrun reads whole responses; streaming is not supported',
};

const paramsSchema = { type: 'object', properties: requestParamSchemas, additionalProperties: true };
const gridSchema = {
  type: 'object',
  minProperties: 1,
  properties: Object.fromEntries(
    Object.entries(requestParamSchemas).map(([k, s]) => [k, { type: 'array', minItems: 1, items: s }]),
  ),
  additionalProperties: { type: 'array', minItems: 1 },
};

const messageSchema = {
  type: 'object',
  required: ['role', 'content'],
  properties: {
    role: { enum: ['system', 'developer', 'user', 'assistant'] },
    content: { type: 'string' },
    name: { type: 'string' },
  },
  additionalProperties: false,
};

const providerSchema = {
  anyOf: [
    { enum: ['simulator', 'openai'] },
    {
      type: 'object',
      properties: {
        base_url: { type: 'string', minLength: 1 },
        api_key_env: { type: 'string', pattern: '^[A-Za-z_][A-Za-z0-9_]*$' },
        headers: { type: 'object', additionalProperties: { type: 'string' } },
        query: { type: 'object', additionalProperties: { type: 'string' } },
        timeout_s: { type: 'number', exclusiveMinimum: 0 },
        organization: { type: 'string' },
        simulator: { anyOf: [{ type: 'boolean' }, { type: 'object' }] },
      },
      additionalProperties: false,
    },
  ],
};

/** `checks:` entries; which keys each type needs is checked in resolve.ts, with one clear message per problem. */
const checkSchema = {
  type: 'object',
  required: ['type'],
  properties: {
    name: { type: 'string', pattern: '^[A-Za-z_][A-Za-z0-9_]*$' },
    type: { enum: ['equals', 'contains', 'regex', 'json_schema', 'number', 'set_equals', 'similarity', 'script', 'judge'] },
    pointer: { type: 'string', pattern: '^(/.*)?$' },
    expected: { type: ['string', 'number', 'boolean', 'null', 'object', 'array'] },
    pattern: { type: 'string' },
    flags: { type: 'string', pattern: '^[dimsuv]*$' },
    ignore_case: { type: 'boolean' },
    schema: { anyOf: [{ type: 'string', minLength: 1 }, { type: 'object' }] },
    tolerance: {
      anyOf: [
        { type: 'number', minimum: 0 },
        { type: 'object', properties: { absolute: { type: 'number', minimum: 0 }, relative: { type: 'number', minimum: 0 } }, additionalProperties: false },
      ],
    },
    key: { type: 'string', minLength: 1 },
    method: { enum: ['levenshtein', 'token_f1'] },
    min: { type: 'number', minimum: 0, maximum: 1 },
    module: { type: 'string', minLength: 1 },
    export: { type: 'string', minLength: 1 },
    timeout_ms: { type: 'integer', minimum: 1 },
    model: { type: 'string', minLength: 1 },
    rubric: { type: 'string', minLength: 1 },
    preset: { enum: [...JUDGE_PRESETS] },
    scale: { enum: ['pass_fail', '1-5', '1-10'] },
    votes: { type: 'integer', minimum: 1 },
    params: { type: 'object' },
    provider: { type: 'string', minLength: 1 },
    response_format: { enum: ['json_schema', 'json_object'] },
    // People's labels for this check, from a dataset column: agreement (κ) with them is reported and can be gated.
    human: { type: 'object', required: ['column'], properties: { column: { type: 'string', minLength: 1 } }, additionalProperties: false },
  },
  additionalProperties: false,
};

const gateSchema = {
  type: 'object',
  required: ['metric'],
  properties: {
    name: { type: 'string', minLength: 1 },
    metric: { type: 'string', minLength: 1 },
    min: { type: 'number' },
    max: { type: 'number' },
    cell: { type: 'string', minLength: 1 },
    bound: { enum: ['low', 'high', 'point'] },
  },
  additionalProperties: false,
};

/** A dataset file with the encoding of its bytes, when they are not UTF-8. */
const datasetEntrySchema = {
  type: 'object',
  required: ['path'],
  properties: { path: { type: 'string', minLength: 1 }, encoding: { type: 'string', minLength: 1 } },
  additionalProperties: false,
};

export const configSchema = {
  type: 'object',
  required: ['dataset'],
  properties: {
    name: { type: 'string', minLength: 1, pattern: '^[^/\\\\]+$' },
    description: { type: 'string' },
    dataset: {
      anyOf: [
        { type: 'string', minLength: 1 },
        datasetEntrySchema,
        { type: 'array', minItems: 1, items: { anyOf: [{ type: 'string', minLength: 1 }, datasetEntrySchema] } },
      ],
    },
    encoding: { type: 'string', minLength: 1 },
    id_column: { type: 'string', minLength: 1 },
    messages: { type: 'array', minItems: 1, items: messageSchema },
    prompts: {
      type: 'object',
      minProperties: 1,
      propertyNames: { pattern: '^[A-Za-z0-9_][A-Za-z0-9_.-]*$' },
      additionalProperties: { anyOf: [{ type: 'string', minLength: 1 }, { type: 'array', minItems: 1, items: messageSchema }] },
    },
    pick: {
      type: 'object',
      properties: { metric: { type: 'string', minLength: 1 }, cost: { type: 'string', minLength: 1 }, margin: { type: 'number', minimum: 0 } },
      additionalProperties: false,
    },
    params: paramsSchema,
    grid: gridSchema,
    tools: requestParamSchemas['tools'],
    tool_choice: requestParamSchemas['tool_choice'],
    extra_body: requestParamSchemas['extra_body'],
    schema: { anyOf: [{ type: 'string', minLength: 1 }, { type: 'object' }] },
    concurrency: int(1, 10_000),
    provider: providerSchema,
    retry: {
      type: 'object',
      properties: { max_attempts: int(1, 100), max_wait_s: { type: 'number', minimum: 0 } },
      additionalProperties: false,
    },
    timeout_s: { type: 'number', exclusiveMinimum: 0 },
    rate_limit: {
      type: 'object',
      properties: {
        rpm: { type: 'number', exclusiveMinimum: 0 },
        tpm: { type: 'number', exclusiveMinimum: 0 },
        per_model: { type: 'boolean' },
      },
      additionalProperties: false,
    },
    cache: { anyOf: [{ type: 'boolean' }, { type: 'string', minLength: 1 }] },
    seed: { type: 'integer' },
    n_mode: { enum: ['native', 'repeat'] },
    checks: { type: 'array', items: checkSchema },
    compare: {
      type: 'object',
      properties: {
        baseline: { type: 'string', minLength: 1 },
        metrics: { type: 'array', minItems: 1, items: { type: 'string', minLength: 1 } },
        alpha: { type: 'number', exclusiveMinimum: 0, exclusiveMaximum: 0.5 },
      },
      additionalProperties: false,
    },
    gates: { type: 'array', items: gateSchema },
    batch: {
      anyOf: [
        { type: 'boolean' },
        {
          type: 'object',
          properties: { poll_s: { type: 'number', exclusiveMinimum: 0 }, max_requests: int(1, 50_000) },
          additionalProperties: false,
        },
      ],
    },
    budget_usd: { type: 'number', exclusiveMinimum: 0 },
    pricing: {
      type: 'object',
      additionalProperties: {
        type: 'object',
        required: ['input', 'output'],
        properties: { input: { type: 'number', minimum: 0 }, cached_input: { type: 'number', minimum: 0 }, output: { type: 'number', minimum: 0 } },
        additionalProperties: false,
      },
    },
  },
  additionalProperties: false,
} as const;

/** Every key the config accepts at the top level, for "did you mean" hints. */
export const topLevelKeys = Object.keys(configSchema.properties);
