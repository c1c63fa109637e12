import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { basename, dirname, extname, isAbsolute, join, relative, resolve as resolvePath } from 'node:path';
import { ConfigError, type SourceIssue } from '../errors.js';
import { compileSchema, schemaProblems, SCHEMA_KEYWORDS, unknownFormat, type SchemaProblem } from '../check/index.js';
import { LineCounter, parseDocument } from 'yaml';
import leven from 'leven';
import { locate, pathToString } from './locate.js';
import { canonicalJson, sha256 } from '../util/canonical-json.js';
import { requestParamSchemas, reservedParams } from './schema.js';
import { serverExtraParams } from './server-params.js';
import { baseUrlOf, isOpenAi } from '../contracts/endpoint.js';
import { isEncodingLabel } from '../util/encoding-label.js';
import { suggest, type DocPath } from './locate.js';
import type { LoadedConfigFile } from './load.js';
import type { BatchOptions, Config, ConfigFile, ProviderConfig } from '../contracts/config.js';
import { cellIssues, resolveEvaluation } from './resolve-evaluation.js';
import { expandGrid, outputLimit } from '../plan/index.js';
import { priceFor } from '../contracts/prices.js';
import type { Cell } from '../contracts/plan.js';
// The options module alone: the simulator's entry would load its server (and json-schema-faker) on every config load.
import { simulatorOptionIssues } from '../contracts/simulator-options.js';
import { resolvePrompts } from './prompts.js';
import { resolvePick } from './pick.js';
import { humanCheckNames, scoredCheckNames, type CheckSpec } from '../contracts/checks.js';

export interface ResolveOptions {
  /** `--simulate`: use the built-in simulator whatever the config says. */
  simulate?: boolean | undefined;
  concurrency?: number | undefined;
  /** `--batch`: Batch API mode with the config's options (or the defaults). */
  batch?: boolean | undefined;
  /** `--max-cost USD`: the spend limit, over the config's `budget_usd`. */
  maxCost?: number | undefined;
  /** `--cache` / `--no-cache`: overrides the config's `cache`. */
  cache?: boolean | string | undefined;
  /** Where OPENAI_BASE_URL is read from (default process.env): it decides whether requests go to OpenAI. */
  env?: NodeJS.ProcessEnv | undefined;
}

type Rule = (ctx: RuleContext) => void;
interface RuleContext {
  data: ConfigFile;
  dir: string;
  issue: (path: DocPath, message: string, opts?: { atKey?: boolean }) => void;
  /** Something that is sent as written but probably not what the user meant: printed, the run goes on. */
  warn: (path: DocPath, message: string, opts?: { atKey?: boolean }) => void;
  at: LoadedConfigFile['at'];
  /** The config is written for OpenAI (no base URL, or OpenAI's), which rejects parameters it does not know. */
  openAi: boolean;
  /** The built-in simulator answers: it ignores parameters it does not know. */
  simulator: boolean;
  /** A problem located in another file than the config (a schema file). */
  fileIssue: (issue: SourceIssue) => void;
}

/**
 * Defaults, paths relative to the config file, and the rules a JSON Schema cannot express. Every problem is
 * collected before throwing, so the user fixes them in one go.
 */
export function resolveConfig(loaded: LoadedConfigFile, options: ResolveOptions = {}): Config {
  const { data, file } = loaded;
  const abs = file ? resolvePath(file) : '';
  const dir = abs ? dirname(abs) : process.cwd();
  const issues: SourceIssue[] = [];
  const warnings: SourceIssue[] = [];
  const schemaFileIssues: SourceIssue[] = [];
  const env = options.env ?? process.env;
  const p = data.provider;
  const simulator = Boolean(options.simulate) || p === 'simulator' || (typeof p === 'object' && Boolean(p.simulator));
  // The server the config is written for, even under --simulate: a vLLM config tried offline keeps vLLM's leniency.
  // As the run picks it (contracts/endpoint.ts): the config's base_url, else OPENAI_BASE_URL.
  const baseUrl = baseUrlOf(typeof p === 'object' ? p.base_url : undefined, p === 'simulator' ? {} : env);
  const ctx: RuleContext = {
    data,
    dir,
    issue: (path, message, opts) => issues.push({ file, ...loaded.at(path, opts), path: path.join('.'), message }),
    warn: (path, message, opts) => warnings.push({ file, ...loaded.at(path, opts), path: path.join('.'), message }),
    at: loaded.at,
    openAi: isOpenAi(baseUrl),
    simulator,
    fileIssue: (i) => schemaFileIssues.push(i),
  };
  for (const rule of rules) rule(ctx);
  const evaluation = resolveEvaluation(data, ctx.issue, (spec, path) => loadSchema(ctx, spec, path), {
    dir,
    locate: (path, opts) => ({ file, ...loaded.at(path, opts), path: path.join('.') }),
  });
  const schema = loadSchema(ctx) ?? evaluation.runSchema;
  issues.push(...schemaFileIssues);
  const prompts = resolvePrompts(loaded, dir, ctx.issue, issues);
  const pick = resolvePick(data, evaluation.checks.map((c) => c.name), ctx.issue, scoredCheckNames(evaluation.checks), humanCheckNames(evaluation.checks));
  if (issues.length > 0) throw new ConfigError(issues);

  const params: Record<string, unknown> = { ...(data.params ?? {}) };
  if (data.tools !== undefined) params['tools'] = data.tools;
  if (data.tool_choice !== undefined) params['tool_choice'] = data.tool_choice;
  if (data.extra_body !== undefined) params['extra_body'] = data.extra_body;
  // `grid.prompt` picks variants (resolvePrompts); it is not a request parameter.
  const grid = Object.entries(data.grid ?? {}).filter(([key]) => !(key === 'prompt' && prompts)).map(([key, v]) => ({ key, values: Array.isArray(v) ? v : [v] }));
  const entries = (Array.isArray(data.dataset) ? data.dataset : [data.dataset]).map((d) => (typeof d === 'string' ? { path: d } : d));
  const datasets = entries.map((d) => (isAbsolute(d.path) ? d.path : resolvePath(dir, d.path)));
  const encodings = entries.map((d) => d.encoding ?? data.encoding);
  const stem = abs ? basename(abs, extname(abs)) : 'evalrun';
  const name = data.name ?? (['evalrun', 'config'].includes(stem) ? basename(dir) : stem);
  const provider = resolveProvider(data, options);
  const resolved = {
    name,
    file: abs,
    dir,
    datasets,
    encodings,
    idColumn: data.id_column,
    messages: data.messages,
    prompts,
    params,
    grid,
    schema: schema?.value,
    schemaFile: schema?.file,
    concurrency: options.concurrency ?? data.concurrency ?? 8,
    provider,
    retry: { maxAttempts: data.retry?.max_attempts ?? 5, maxWaitS: data.retry?.max_wait_s ?? 60 },
    seed: data.seed,
    nMode: data.n_mode ?? 'native',
    rateLimit: { rpm: data.rate_limit?.rpm, tpm: data.rate_limit?.tpm, perModel: data.rate_limit?.per_model ?? false },
    cacheDir: resolveCacheDir(options.cache ?? data.cache, dir, env),
    timeoutS: data.timeout_s ?? (typeof data.provider === 'object' ? data.provider.timeout_s : undefined) ?? 300,
    checks: evaluation.checks,
    scriptSources: evaluation.scriptSources,
    compare: evaluation.compare,
    gates: evaluation.gates,
    pricing: evaluation.pricing,
    warnings,
    pick,
    batch: resolveBatch(data.batch, options.batch),
    budgetUsd: options.maxCost ?? data.budget_usd,
  };
  const cells = expandGrid({ ...resolved, hash: '' });
  cellIssues(data, cells.map((c) => c.id), ctx.issue);
  if (resolved.budgetUsd !== undefined) budgetIssues(cells, resolved.checks ?? [], resolved.pricing ?? {}, options.maxCost !== undefined, ctx.issue);
  if (issues.length > 0) throw new ConfigError(issues);
  // Only what decides which requests are sent and how they are judged; concurrency or provider may change on resume.
  const hash = sha256(
    canonicalJson({
      datasets: resolved.datasets,
      // Other bytes decoded are other prompts; undefined (all UTF-8) keeps the hash of configs written before.
      encodings: encodings.some((e) => e !== undefined) ? encodings : undefined,
      idColumn: resolved.idColumn,
      messages: resolved.messages,
      // Variants change what is sent; absent without `prompts:`, so older runs keep their hash.
      prompts: prompts?.map((p) => ({ name: p.name, messages: p.messages })),
      params,
      grid,
      schema: resolved.schema,
      // repeat sends other requests (no n, seed + k): a run may not switch halfway.
      nMode: resolved.nMode === 'repeat' ? 'repeat' : undefined,
      // Checks are graded into the records, so a run may not be resumed under other checks.
      checks: evaluation.checks.length ? evaluation.checks : undefined,
    }),
  ).slice(0, 16);
  return { ...resolved, hash };
}

const rules: Rule[] = [
  function modelIsGiven({ data, issue }) {
    if (data.params?.['model'] === undefined && data.grid?.['model'] === undefined) {
      issue([], "no model: set 'params.model' or list models under 'grid.model'");
    }
  },
  function noReservedOrMisspeltParams({ data, issue, warn, openAi, simulator }) {
    const known = [...Object.keys(requestParamSchemas), ...serverExtraParams];
    for (const section of ['params', 'grid'] as const) {
      for (const key of Object.keys(data[section] ?? {})) {
        // The prompt-variant axis (see prompts.ts), which says itself when `prompts:` is missing.
        if (section === 'grid' && key === 'prompt') continue;
        if (key in reservedParams) issue([section, key], `'${key}' cannot be set: ${reservedParams[key]}`, { atKey: true });
        else if (key in requestParamSchemas) continue;
        else if (serverExtraParams.has(key)) {
          // Sent as written: vLLM, llama.cpp, Ollama or OpenRouter know it; OpenAI answers 400 to it.
          if (openAi && !simulator) warn([section, key], `'${key}' is not an OpenAI parameter (vLLM, llama.cpp and Ollama servers accept it): OpenAI rejects every request that has it; set provider.base_url to the server that knows it`, { atKey: true });
        } else {
          const hint = suggest(key, known);
          if (!hint || hint === key) continue;
          const message = `unknown parameter '${key}' (did you mean '${hint}'?)`;
          // Against another server it may be that server's own parameter: say so, send it, and let the server judge.
          if (openAi) issue([section, key], `${message}; a parameter only your server knows goes under 'extra_body:', sent without checks`, { atKey: true });
          else warn([section, key], `${message}; sent as written since the server is not OpenAI's (put it under 'extra_body:' to silence this)`, { atKey: true });
        }
      }
    }
  },
  function extraBodyIsVerbatim({ data, issue }) {
    if (data.extra_body !== undefined && data.params?.['extra_body'] !== undefined) {
      issue(['extra_body'], "'extra_body' is given both at the top level and under params; keep one");
    }
    const places: Array<[DocPath, unknown]> = [
      [['extra_body'], data.extra_body],
      [['params', 'extra_body'], data.params?.['extra_body']],
      ...asList(data.grid?.['extra_body']).map((v, i): [DocPath, unknown] => [['grid', 'extra_body', i], v]),
    ];
    for (const [path, value] of places) {
      if (!value || typeof value !== 'object') continue;
      for (const key of Object.keys(value)) {
        if (key in reservedParams || key === 'model') {
          issue([...path, key], `'${key}' cannot be set in extra_body: ${reservedParams[key] ?? "the model comes from 'params.model' or 'grid.model'"}`, { atKey: true });
        }
      }
    }
  },
  function gridOverridesParams({ data, warn, at }) {
    // Every cell takes the grid's value: the one under params is never sent, whatever the user meant by it. A warning,
    // not an error: a default under params that a grid overrides is harmless, only surprising.
    for (const key of Object.keys(data.grid ?? {})) {
      // The top-level extra_body is params.extra_body written shorter.
      const [path, value] = key === 'extra_body' && data.extra_body !== undefined ? [['extra_body'], data.extra_body] : [['params', key], data.params?.[key]];
      if (value === undefined) continue;
      const gridAt = at(['grid', key], { atKey: true });
      warn(path, `'${key}' is also set under grid (line ${gridAt.line}): every cell uses the grid's values, so ${path.join('.')} = ${JSON.stringify(value)} is never sent; remove it here, or add it to grid.${key}`, { atKey: true });
    }
  },
  function encodingsAreKnown({ data, issue }) {
    const list = Array.isArray(data.dataset) ? data.dataset : [data.dataset];
    const places: Array<[DocPath, unknown]> = [
      [['encoding'], data.encoding],
      ...list.map((d, i): [DocPath, unknown] => [Array.isArray(data.dataset) ? ['dataset', i, 'encoding'] : ['dataset', 'encoding'], typeof d === 'object' ? d.encoding : undefined]),
    ];
    for (const [path, label] of places) {
      if (typeof label === 'string' && !isEncodingLabel(label)) {
        issue(path, `unknown encoding '${label}': use a name such as utf-8, latin1, windows-1252, utf-16le or shift_jis`);
      }
    }
  },
  function toolsOnlyOnce({ data, issue }) {
    for (const key of ['tools', 'tool_choice'] as const) {
      if (data[key] !== undefined && (data.params?.[key] !== undefined || data.grid?.[key] !== undefined)) {
        issue([key], `'${key}' is given both at the top level and under params/grid; keep one`);
      }
    }
  },
  function toolParametersAreSchemas(ctx) {
    const { data, issue } = ctx;
    // Every tool call's arguments are validated against these: a broken schema must stop the run before it starts.
    const lists: Array<[DocPath, unknown]> = [[['tools'], data.tools], [['params', 'tools'], data.params?.['tools']]];
    const grid = data.grid?.['tools'];
    if (Array.isArray(grid)) grid.forEach((list, i) => lists.push([['grid', 'tools', i], list]));
    for (const [at, list] of lists) {
      if (!Array.isArray(list)) continue;
      list.forEach((tool, i) => {
        const params = (tool as { function?: { parameters?: unknown } } | null)?.function?.parameters;
        if (params === undefined) return;
        const path = [...at, i, 'function', 'parameters'];
        if (!params || typeof params !== 'object' || Array.isArray(params)) return issue(path, 'a tool\'s parameters must be a JSON Schema object');
        // Strict like every other user schema: a misspelt keyword would check nothing.
        loadSchema(ctx, params as Record<string, unknown>, path);
      });
    }
  },
  function responseFormatSchemasAreStrict(ctx) {
    const { data } = ctx;
    const formats: Array<[DocPath, unknown]> = [
      [['params', 'response_format'], data.params?.['response_format']],
      ...asList(data.grid?.['response_format']).map((v, i): [DocPath, unknown] => [['grid', 'response_format', i], v]),
    ];
    for (const [path, f] of formats) {
      const schema = (f as { json_schema?: { schema?: unknown } } | undefined)?.json_schema?.schema;
      if (schema && typeof schema === 'object' && !Array.isArray(schema)) loadSchema(ctx, schema as Record<string, unknown>, [...path, 'json_schema', 'schema']);
    }
  },
  function jsonModeNamesJson({ data, issue }) {
    // The API answers 400 to every such request; better to say so before a whole run of them is sent.
    const formats = [data.params?.['response_format'], ...asList(data.grid?.['response_format'])];
    const wantsJsonObject = formats.some((f) => (f as { type?: string } | undefined)?.type === 'json_object');
    if (wantsJsonObject && data.messages && !data.messages.some((m) => /json/i.test(m.content))) {
      issue(['messages'], "response_format json_object needs the word 'json' in the messages (the API rejects it otherwise); e.g. add 'Answer with a JSON object.' to the system message");
    }
  },
  function simulatorOptionsAreKnown({ data, issue }) {
    // Checked here too (startSimulator checks them as well) so the message points at the config's line.
    const sim = typeof data.provider === 'object' ? data.provider.simulator : undefined;
    if (typeof sim !== 'object' || sim === null) return;
    for (const i of simulatorOptionIssues(sim)) issue(['provider', 'simulator', ...i.path.split('.')], i.message, { atKey: true });
  },
];

function asList(v: unknown): unknown[] {
  return v === undefined ? [] : Array.isArray(v) ? v : [v];
}

function loadSchema(
  ctx: RuleContext,
  spec: string | Record<string, unknown> | undefined = ctx.data.schema,
  at: DocPath = ['schema'],
): { value: Record<string, unknown>; file: string | undefined } | undefined {
  if (spec === undefined) return undefined;
  let value: Record<string, unknown>;
  let file: string | undefined;
  if (typeof spec === 'string') {
    file = isAbsolute(spec) ? spec : resolvePath(ctx.dir, spec);
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      ctx.issue(at, `schema file not found: ${file}`);
      return undefined;
    }
    try {
      value = JSON.parse(text) as Record<string, unknown>;
    } catch (e) {
      ctx.issue(at, `${spec} is not valid JSON: ${(e as Error).message}`);
      return undefined;
    }
    if (!value || typeof value !== 'object' || Array.isArray(value)) {
      ctx.issue(at, `${spec} must hold a JSON Schema object`);
      return undefined;
    }
  } else {
    value = spec;
  }
  let problems: SchemaProblem[];
  try {
    compileSchema(value);
    problems = schemaProblems(value);
  } catch (e) {
    const format = unknownFormat((e as Error).message);
    if (format) problems = [format];
    else {
      ctx.issue(at, `${file ? `${typeof spec === 'string' ? spec : ''} ` : ''}is not a valid JSON Schema: ${(e as Error).message}`);
      return undefined;
    }
  }
  if (problems.length === 0) return { value, file };
  if (file && typeof spec === 'string') {
    const where = jsonLocator(readFileSync(file, 'utf8'));
    // Shown like a dataset: relative to the working directory when that is shorter.
    const rel = relative(process.cwd(), file);
    const shown = rel && !rel.startsWith('..') && rel.length < file.length ? rel : file;
    for (const p of problems) ctx.fileIssue({ file: shown, ...where(p.path, true), path: pathToString(p.path), message: problemMessage(p) });
  } else {
    for (const p of problems) ctx.issue([...at, ...p.path], problemMessage(p), { atKey: true });
  }
  return undefined;
}

/** ajv-formats' formats, for "did you mean" hints. */
const FORMATS = ['date', 'time', 'date-time', 'iso-time', 'iso-date-time', 'duration', 'uri', 'uri-reference', 'uri-template', 'url', 'email', 'hostname', 'ipv4', 'ipv6', 'regex', 'uuid', 'json-pointer', 'json-pointer-uri-fragment', 'relative-json-pointer', 'byte', 'int32', 'int64', 'float', 'double', 'password', 'binary'];

/** A closer hint than config keys get: a made-up keyword ('foo') must not be "did you mean 'not'". */
function closeHint(word: string, candidates: readonly string[]): string | undefined {
  const hint = suggest(word, candidates);
  if (!hint) return undefined;
  const [a, b] = [word.toLowerCase(), hint.toLowerCase()];
  // Two letters swapped ('emial') are one slip, though two edits.
  const swapped = a.length === b.length && [...a].sort().join('') === [...b].sort().join('');
  return swapped || leven(a, b) <= Math.max(1, Math.floor(word.length / 3)) ? hint : undefined;
}

function problemMessage(p: SchemaProblem): string {
  if (p.kind === 'format') {
    const hint = closeHint(p.name, FORMATS);
    return `unknown format '${p.name}'${hint ? ` (did you mean '${hint}'?)` : ''}: it cannot be checked; known formats: ${FORMATS.join(', ')}`;
  }
  const hint = closeHint(p.name, SCHEMA_KEYWORDS);
  return `unknown JSON Schema keyword '${p.name}'${hint ? ` (did you mean '${hint}'?)` : ''}: validation ignores it, so the schema would not check what it says`;
}

/** Positions in a JSON file: JSON is YAML, and yaml's parser keeps every node's offset. */
function jsonLocator(text: string): (path: DocPath, atKey: boolean) => { line: number; col: number } {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false });
  if (doc.errors.length) return () => ({ line: 0, col: 0 });
  return (path, atKey) => locate(doc, lines, path, { atKey });
}

function resolveProvider(data: ConfigFile, options: ResolveOptions): ProviderConfig {
  const p = data.provider;
  const base: ProviderConfig = {
    kind: 'openai',
    baseUrl: undefined,
    apiKeyEnv: 'OPENAI_API_KEY',
    headers: {},
    query: {},
    organization: undefined,
    simulator: {},
  };
  if (p === 'simulator') base.kind = 'simulator';
  else if (p && typeof p === 'object') {
    base.baseUrl = p.base_url;
    base.apiKeyEnv = p.api_key_env ?? base.apiKeyEnv;
    base.headers = p.headers ?? {};
    base.query = p.query ?? {};
    base.organization = p.organization;
    if (p.simulator) {
      base.kind = 'simulator';
      base.simulator = typeof p.simulator === 'object' ? p.simulator : {};
    }
  }
  if (options.simulate) base.kind = 'simulator';
  return base;
}

/** The environment is the caller's (`env` of runEval or main), never this process's behind its back. */
function resolveCacheDir(cache: boolean | string | undefined, dir: string, env: NodeJS.ProcessEnv): string | undefined {
  if (!cache) return undefined;
  if (typeof cache === 'string') return isAbsolute(cache) ? cache : resolvePath(dir, cache);
  const base = env['EVALRUN_CACHE_DIR'] ?? env['XDG_CACHE_HOME'] ?? join(homedir(), '.cache');
  return env['EVALRUN_CACHE_DIR'] ? base : join(base, 'evalrun');
}

/** `batch: true`, a mapping of options, or `--batch` (which turns on the config's options, or the defaults). */
function resolveBatch(value: ConfigFile['batch'], flag: boolean | undefined): BatchOptions | undefined {
  if (!value && !flag) return undefined;
  const o = typeof value === 'object' ? value : {};
  return { pollS: o.poll_s ?? 30, maxRequests: o.max_requests ?? 50_000 };
}

/**
 * Under a spend limit every request must have a price and a bounded worst case before anything is sent: a model
 * with no price (built in or under `pricing:`), or a cell with no max_tokens whose model's output limit is unknown.
 * A judge check's calls are requests too: its model needs a price and a bound the same way.
 */
function budgetIssues(cells: readonly Cell[], checks: readonly CheckSpec[], pricing: Readonly<Record<string, { input: number; output: number; cached_input?: number }>>, flag: boolean, issue: RuleContext['issue']): void {
  const given = flag ? '--max-cost' : 'budget_usd';
  const where = flag ? [] : ['budget_usd'];
  const judges = checks.filter((c) => c.judge !== undefined);
  const models = [...cells.map((c) => String(c.params['model'])), ...judges.map((c) => c.judge!.model)];
  const unpriced = [...new Set(models.filter((m) => !priceFor(m, pricing)))];
  for (const model of unpriced) {
    issue(where, `${given} needs every model's price, and model '${model}' has none: add it under 'pricing:' (USD per 1M tokens: { input, output })`, { atKey: true });
  }
  for (const check of judges) {
    const { model, params } = check.judge!;
    if (typeof (params['max_completion_tokens'] ?? params['max_tokens']) === 'number' || outputLimit(model) !== undefined) continue;
    issue(where, `${given} needs a bound on every request's cost, and judge check '${check.name}' sets no max_tokens while the output limit of model '${model}' is unknown: set its params.max_tokens`, { atKey: true });
  }
  for (const cell of cells) {
    const model = String(cell.params['model']);
    if (typeof (cell.params['max_completion_tokens'] ?? cell.params['max_tokens']) === 'number' || outputLimit(model) !== undefined) continue;
    issue(where, `${given} needs a bound on every request's cost, and cell ${cell.id} sets no max_tokens while the output limit of model '${model}' is unknown: set params.max_tokens`, { atKey: true });
  }
}
