import type { SourceIssue } from '../errors.js';
import type { CheckSpec } from './checks.js';

/** A place in the config file (as errors.ts's SourceIssue locates a problem). */
export interface ConfigLocation {
  file: string;
  line: number;
  col: number;
  path: string;
}
import type { CompareSpec, GateSpec, PickSpec } from './evaluation.js';
import type { JudgePreset } from './judge.js';

/** What the user wrote in the YAML file (snake_case, like the API). */
export interface ConfigFile {
  name?: string;
  description?: string;
  dataset: DatasetFile | DatasetFile[];
  /** Encoding of every dataset file (a TextDecoder label: latin1, windows-1252, utf-16le, …); default UTF-8. */
  encoding?: string;
  id_column?: string;
  messages?: MessageTemplate[];
  /** Named prompt variants: an inline list of messages, or a file (.yaml/.json list, .txt/.md one user message). */
  prompts?: Record<string, MessageTemplate[] | string>;
  /**
   * Which cell to pick: the metric to maximise, what it costs (the quality-cost frontier), and how much worse than the
   * best a cheaper cell may be shown to be at most, in the metric's units, to be recommended instead.
   */
  pick?: { metric?: string; cost?: string; margin?: number };
  params?: Record<string, unknown>;
  grid?: Record<string, unknown>;
  tools?: unknown[];
  tool_choice?: unknown;
  /** Merged into every request body as written, unchecked: parameters only the user's server knows. */
  extra_body?: Record<string, unknown>;
  schema?: string | Record<string, unknown>;
  concurrency?: number;
  provider?: ProviderFile;
  retry?: { max_attempts?: number; max_wait_s?: number };
  timeout_s?: number;
  rate_limit?: { rpm?: number; tpm?: number; per_model?: boolean };
  /** true: cache in ~/.cache/evalrun (or $EVALRUN_CACHE_DIR); a string: that directory. */
  cache?: boolean | string;
  seed?: number;
  /** native: one request with n choices; repeat: n single-choice requests (servers that ignore n). */
  n_mode?: 'native' | 'repeat';
  checks?: CheckFile[];
  compare?: { baseline?: string; metrics?: string[]; alpha?: number };
  gates?: GateFile[];
  /** USD per 1M tokens, overriding the built-in price table. */
  pricing?: Record<string, { input: number; output: number; cached_input?: number }>;
  /** Send the plan through the Batch API (half price, answers within 24 h): true, or a mapping of options. */
  batch?: boolean | BatchFile;
  /** The most the run directory may spend, USD: no request is sent whose worst-case cost would take it past this. */
  budget_usd?: number;
}

export interface BatchFile {
  /** Seconds between status checks (default 30; grows gently on long waits). */
  poll_s?: number;
  /** Requests per batch file (default and maximum 50,000). */
  max_requests?: number;
}

/** The Batch API mode's options, resolved. */
export interface BatchOptions {
  pollS: number;
  maxRequests: number;
}

export type DatasetFile = string | { path: string; encoding?: string };

export interface CheckFile {
  name?: string;
  type: 'equals' | 'contains' | 'regex' | 'json_schema' | 'number' | 'set_equals' | 'similarity' | 'script' | 'judge';
  pointer?: string;
  expected?: unknown;
  pattern?: string;
  flags?: string;
  ignore_case?: boolean;
  schema?: string | Record<string, unknown>;
  tolerance?: number | { absolute?: number; relative?: number };
  key?: string;
  method?: 'levenshtein' | 'token_f1';
  min?: number;
  module?: string;
  export?: string;
  timeout_ms?: number;
  /** judge checks (src/contracts/judge.ts). */
  model?: string;
  rubric?: string;
  preset?: JudgePreset;
  scale?: 'pass_fail' | '1-5' | '1-10';
  votes?: number;
  params?: Record<string, unknown>;
  provider?: string;
  response_format?: 'json_schema' | 'json_object';
  human?: { column: string };
}

export interface GateFile {
  name?: string;
  metric: string;
  min?: number;
  max?: number;
  cell?: string;
  bound?: 'low' | 'high' | 'point';
}

export interface MessageTemplate {
  role: string;
  content: string;
  name?: string;
}

export type ProviderFile =
  | 'simulator'
  | 'openai'
  | {
      base_url?: string;
      api_key_env?: string;
      headers?: Record<string, string>;
      query?: Record<string, string>;
      timeout_s?: number;
      organization?: string;
      simulator?: Record<string, unknown> | boolean;
    };

/** One value a grid axis can take, already expanded. */
export type ParamValue = unknown;

export interface ProviderConfig {
  kind: 'openai' | 'simulator';
  /** undefined: the SDK's own default (OPENAI_BASE_URL, else api.openai.com). */
  baseUrl: string | undefined;
  apiKeyEnv: string;
  headers: Record<string, string>;
  query: Record<string, string>;
  organization: string | undefined;
  /** Options for the built-in simulator when kind is 'simulator'. */
  simulator: Record<string, unknown>;
}

/** The resolved, validated configuration every later stage works from. */
export interface Config {
  name: string;
  /** Absolute path of the YAML file ('' when built in code). */
  file: string;
  dir: string;
  datasets: string[];
  /** Encoding of each dataset file (same order as `datasets`); undefined: UTF-8, checked. */
  encodings?: Array<string | undefined> | undefined;
  idColumn: string | undefined;
  messages: MessageTemplate[] | undefined;
  /**
   * The prompt variants the grid runs (`prompts:`, narrowed by `grid.prompt`), in grid order; undefined without
   * `prompts:`. With variants, `messages` is unused and every cell is one variant × one parameter combination.
   */
  prompts?: PromptVariant[] | undefined;
  /** Parameters sent with every request, merged under each grid cell's own. */
  params: Record<string, unknown>;
  /** Grid axes in the order written; each a non-empty list of alternatives. */
  grid: Array<{ key: string; values: unknown[] }>;
  schema: Record<string, unknown> | undefined;
  schemaFile: string | undefined;
  concurrency: number;
  provider: ProviderConfig;
  retry: { maxAttempts: number; maxWaitS: number };
  timeoutS: number;
  /** Limits dispatch never exceeds; undefined fields are unlimited. */
  rateLimit: { rpm: number | undefined; tpm: number | undefined; perModel: boolean };
  /** Response cache directory, or undefined when caching is off (the default). */
  cacheDir: string | undefined;
  /** Seed for the simulator (and sent as `seed` only if params say so). */
  seed: number | undefined;
  /** How a cell's n choices are asked for: one request with `n` (native), or n single-choice requests (repeat). */
  nMode?: 'native' | 'repeat' | undefined;
  /** Checks graded on every choice (the schema check is `schema`, not one of these). Optional for configs built in code. */
  checks?: CheckSpec[] | undefined;
  /**
   * Where each script check's `module` and `export` are written (by check name), so a module that does not load or
   * lacks its export is reported at its line. Not part of the config hash: moving a line changes no result.
   */
  scriptSources?: Record<string, { module: ConfigLocation; export: ConfigLocation }> | undefined;
  /** Within-run comparison against a baseline cell; null fields mean the defaults (first cell, default metrics). */
  compare?: CompareSpec | undefined;
  gates?: GateSpec[] | undefined;
  pricing?: Record<string, { input: number; output: number; cached_input?: number }> | undefined;
  /** Problems that do not stop the run (a parameter OpenAI will reject, say), located in the config file. */
  warnings?: SourceIssue[] | undefined;
  /** The frontier's axes and the recommendation's margin: null fields mean the defaults (see src/report/pick.ts). */
  pick?: PickSpec | undefined;
  /** Batch API mode (`batch:` or `--batch`); undefined: synchronous requests. */
  batch?: BatchOptions | undefined;
  /** The spend limit in USD (`budget_usd:`, or `--max-cost`, which wins); undefined: none. Not in the hash. */
  budgetUsd?: number | undefined;
  /** A hash of everything that decides which requests are sent: resume refuses when it changes. */
  hash: string;
}

/** Where a template's text is, so a problem with one of its variables is reported at its line. */
export interface TemplateSource {
  file: string;
  /** 1-based line of each message's content (0 when unknown). */
  lines: number[];
}

/** One `prompts:` entry, loaded. */
export interface PromptVariant {
  name: string;
  messages: MessageTemplate[];
  source: TemplateSource;
}
