import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { basename, dirname, extname, isAbsolute, join, resolve as resolvePath } from 'node:path';
import { ConfigError, type SourceIssue } from '../errors.js';
import { compileSchema } from '../check/validators.js';
import { canonicalJson, sha256 } from '../util/canonical-json.js';
import { requestParamSchemas, reservedParams } from './schema.js';
import { suggest, type DocPath } from './locate.js';
import type { LoadedConfigFile } from './load.js';
import type { Config, ConfigFile, ProviderConfig } from './types.js';
import { cellIssues, resolveEvaluation } from './resolve-evaluation.js';
import { expandGrid } from '../plan/grid.js';
import { resolvePrompts } from './prompts.js';
import { resolvePick } from './pick.js';

export interface ResolveOptions {
  /** `--simulate`: use the built-in simulator whatever the config says. */
  simulate?: boolean | undefined;
  concurrency?: number | undefined;
  /** `--cache` / `--no-cache`: overrides the config's `cache`. */
  cache?: boolean | string | undefined;
}

type Rule = (ctx: RuleContext) => void;
interface RuleContext {
  data: ConfigFile;
  dir: string;
  issue: (path: DocPath, message: string, opts?: { atKey?: boolean }) => void;
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
  const ctx: RuleContext = {
    data,
    dir,
    issue: (path, message, opts) => issues.push({ file, ...loaded.at(path, opts), path: path.join('.'), message }),
  };
  for (const rule of rules) rule(ctx);
  const evaluation = resolveEvaluation(data, ctx.issue, (spec, path) => loadSchema(ctx, spec, path));
  const schema = loadSchema(ctx) ?? evaluation.runSchema;
  const prompts = resolvePrompts(loaded, dir, ctx.issue, issues);
  const pick = resolvePick(data, evaluation.checks.map((c) => c.name), ctx.issue);
  if (issues.length > 0) throw new ConfigError(issues);

  const params: Record<string, unknown> = { ...(data.params ?? {}) };
  if (data.tools !== undefined) params['tools'] = data.tools;
  if (data.tool_choice !== undefined) params['tool_choice'] = data.tool_choice;
  // `grid.prompt` picks variants (resolvePrompts); it is not a request parameter.
  const grid = Object.entries(data.grid ?? {}).filter(([key]) => !(key === 'prompt' && prompts)).map(([key, v]) => ({ key, values: Array.isArray(v) ? v : [v] }));
  const datasets = (Array.isArray(data.dataset) ? data.dataset : [data.dataset]).map((d) =>
    isAbsolute(d) ? d : resolvePath(dir, d),
  );
  const stem = abs ? basename(abs, extname(abs)) : 'evalrun';
  const name = data.name ?? (['evalrun', 'config'].includes(stem) ? basename(dir) : stem);
  const provider = resolveProvider(data, options);
  const resolved = {
    name,
    file: abs,
    dir,
    datasets,
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
    cacheDir: resolveCacheDir(options.cache ?? data.cache, dir),
    timeoutS: data.timeout_s ?? (typeof data.provider === 'object' ? data.provider.timeout_s : undefined) ?? 300,
    checks: evaluation.checks,
    compare: evaluation.compare,
    gates: evaluation.gates,
    pricing: evaluation.pricing,
    pick,
  };
  cellIssues(data, expandGrid({ ...resolved, hash: '' }).map((c) => c.id), ctx.issue);
  if (issues.length > 0) throw new ConfigError(issues);
  // Only what decides which requests are sent and how they are judged; concurrency or provider may change on resume.
  const hash = sha256(
    canonicalJson({
      datasets: resolved.datasets,
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
  function noReservedOrMisspeltParams({ data, issue }) {
    for (const section of ['params', 'grid'] as const) {
      for (const key of Object.keys(data[section] ?? {})) {
        // The prompt-variant axis (see prompts.ts), which says itself when `prompts:` is missing.
        if (section === 'grid' && key === 'prompt') continue;
        if (key in reservedParams) issue([section, key], `'${key}' cannot be set: ${reservedParams[key]}`, { atKey: true });
        else if (!(key in requestParamSchemas)) {
          const hint = suggest(key, Object.keys(requestParamSchemas));
          if (hint && hint !== key) {
            issue([section, key], `unknown parameter '${key}' (did you mean '${hint}'?)`, { atKey: true });
          }
        }
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
  function toolParametersAreSchemas({ data, issue }) {
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
        try {
          compileSchema(params as Record<string, unknown>);
        } catch (e) {
          issue(path, `is not a valid JSON Schema: ${(e as Error).message}`);
        }
      });
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
  try {
    compileSchema(value);
  } catch (e) {
    ctx.issue(at, `${file ? `${typeof spec === 'string' ? spec : ''} ` : ''}is not a valid JSON Schema: ${(e as Error).message}`);
    return undefined;
  }
  return { value, file };
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

function resolveCacheDir(cache: boolean | string | undefined, dir: string): string | undefined {
  if (!cache) return undefined;
  if (typeof cache === 'string') return isAbsolute(cache) ? cache : resolvePath(dir, cache);
  const base = process.env['EVALRUN_CACHE_DIR'] ?? process.env['XDG_CACHE_HOME'] ?? join(homedir(), '.cache');
  return process.env['EVALRUN_CACHE_DIR'] ? base : join(base, 'evalrun');
}
