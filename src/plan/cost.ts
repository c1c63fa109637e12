import type { Config } from '../contracts/config.js';
import type { ChatMessage, Row } from '../contracts/dataset.js';
import { renderMessages } from '../contracts/template.js';
import { cellTemplates } from './build-plan.js';
import type { Cell, Task } from '../contracts/plan.js';
import { BATCH_PRICE_FACTOR, PRICES_AS_OF, costUsd, priceFor } from '../contracts/prices.js';
import { inThreadCounter, loadCount, type TokenCounter } from './token-counter.js';
import { contextWindow, outputLimit } from './context-windows.js';
import { judgeMessages, judgeResponseFormat } from '../contracts/judge.js';

export type EncodingName = 'o200k_base' | 'cl100k_base';

export interface CellEstimate {
  id: string;
  /** The cell's prompt variant (`prompts:`); absent without variants. */
  prompt?: string;
  model: string;
  encoding: EncodingName;
  prompt_tokens: number;
  /** max_tokens (or max_completion_tokens) × n × rows; null when the config sets no limit. */
  max_completion_tokens: number | null;
  prompt_cost_usd: number | null;
  max_cost_usd: number | null;
}

export interface CostEstimate {
  prices_as_of: string;
  /** Priced for the Batch API (half the list price). */
  batch?: boolean;
  cells: CellEstimate[];
  prompt_tokens: number;
  max_completion_tokens: number | null;
  prompt_cost_usd: number | null;
  max_cost_usd: number | null;
  /** Per prompt variant (absent without `prompts:`): its cells' prompt tokens and costs summed, in grid order. */
  by_prompt?: Array<{ prompt: string; cells: number; prompt_tokens: number; max_completion_tokens: number | null; prompt_cost_usd: number | null; max_cost_usd: number | null }>;
  /** Models with no price (built in or in `pricing:`): their cost is unknown, never counted as 0. */
  unknown_models: string[];
  /** Models whose tokenizer is not known: counted with o200k_base, an approximation. */
  approximate_models: string[];
  /** Cells some of whose prompts are longer than the model's context window: the API refuses those requests. */
  context_overflows: ContextOverflow[];
  /** The judge checks' calls, estimated apart from the answers (absent without judge checks). */
  judges?: JudgeEstimate[];
  /** Their cost summed; null when a judge model has no price. */
  judge_cost_usd?: number | null;
}

/**
 * One judge check's calls: one per choice and vote (pairwise: two per choice of each cell but the baseline). Each
 * call's prompt is the judge's fixed text, the answered request's prompt and the answer, counted at the cell's
 * max_tokens (the whole answer); its completion is assumed to be JUDGE_COMPLETION_TOKENS unless the judge's params
 * bound it.
 */
export interface JudgeEstimate {
  check: string;
  model: string;
  calls: number;
  prompt_tokens: number;
  completion_tokens: number;
  cost_usd: number | null;
}

/** The reasoning and verdict a judge writes, assumed when its params set no max_tokens. */
const JUDGE_COMPLETION_TOKENS = 150;

export interface ContextOverflow {
  cell: string;
  model: string;
  context_window: number;
  /** How many rows' prompts exceed it, the longest prompt, and the first such row. */
  rows: number;
  max_prompt_tokens: number;
  first: { row_id: string; file: string; line: number; prompt_tokens: number };
}

/** Which BPE a model uses: cl100k_base for GPT-4 / GPT-3.5, o200k_base for GPT-4o and everything since. */
export function encodingFor(model: string): { encoding: EncodingName; known: boolean } {
  if (/^(gpt-4o|chatgpt-4o|gpt-4\.1|gpt-4\.5|gpt-5|o1|o3|o4|gpt-oss)/.test(model)) return { encoding: 'o200k_base', known: true };
  if (/^(gpt-4|gpt-3\.5)/.test(model)) return { encoding: 'cl100k_base', known: true };
  return { encoding: 'o200k_base', known: false };
}

type Counter = (text: string) => number;


function contentText(content: unknown): string {
  if (typeof content === 'string') return content;
  if (Array.isArray(content)) return content.map((p) => (p && typeof p === 'object' && typeof (p as { text?: unknown }).text === 'string' ? (p as { text: string }).text : '')).join('\n');
  return content == null ? '' : JSON.stringify(content);
}

/** OpenAI's chat framing, as in their token-counting cookbook: 3 tokens per message, 1 per name, 3 to prime the reply. */
export function chatTokens(messages: readonly ChatMessage[], count: Counter): number {
  let total = 3;
  for (const m of messages) {
    total += 3 + count(String(m.role)) + count(contentText(m.content));
    if (typeof m['name'] === 'string') total += 1 + count(m['name']);
  }
  return total;
}

/** Parts of a request that are sent as prompt besides the messages: tool definitions and a json_schema. */
function fixedExtraTexts(cell: Cell): string[] {
  return extraParts(cell.params).map((part) => JSON.stringify(part));
}

function extraParts(params: Readonly<Record<string, unknown>>): object[] {
  const parts: object[] = [];
  const tools = params['tools'];
  if (Array.isArray(tools) && tools.length) parts.push(tools);
  const schema = (params['response_format'] as { json_schema?: unknown } | undefined)?.json_schema;
  if (schema && typeof schema === 'object') parts.push(schema);
  return parts;
}

const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);

/**
 * Tokens and cost before sending anything: every row's prompt is rendered and counted with the model's tokenizer
 * (streamed, once per row and tokenizer), completions bounded by max_tokens × n.
 */
export async function estimateCost(
  config: Config,
  cells: readonly Cell[],
  rows: AsyncIterable<Row>,
  counter: TokenCounter = inThreadCounter(),
): Promise<CostEstimate> {
  const encodings = [...new Set(cells.map((c) => encodingFor(String(c.params['model'])).encoding))];
  // One prompt count per template (the `messages` template, or each prompt variant's) and tokenizer.
  const perCell = cellTemplates(config, cells);
  const templates = [...new Set(perCell)];
  const slot = new Map(templates.map((t, i) => [t, i]));
  const promptBy = templates.map(() => new Map<EncodingName, number>(encodings.map((e) => [e, 0])));
  const extras = await Promise.all(cells.map(async (cell) => sum(await counter.count(encodingFor(String(cell.params['model'])).encoding, fixedExtraTexts(cell)))));
  // Each row's prompt is checked against the window of every cell's model that has one, for the template it sends.
  const windowed = cells.flatMap((cell) => {
    const model = String(cell.params['model']);
    const window = contextWindow(model);
    return window === undefined ? [] : [{ cell, model, window, encoding: encodingFor(model).encoding, template: slot.get(perCell[cell.index])! }];
  });
  const overflows = new Map<string, ContextOverflow>();
  // The chat framing does not depend on the tokenizer; the texts are counted in batches (in a worker, for `plan`).
  const framing = templates.map(() => 0);
  let pending: string[][] = templates.map(() => []);
  let pendingRows: Array<Array<{ row: Row; end: number; framing: number }>> = templates.map(() => []);
  const flush = async () => {
    const batches = pending;
    const rowsInBatches = pendingRows;
    pending = templates.map(() => []);
    pendingRows = templates.map(() => []);
    for (const [i, texts] of batches.entries()) {
      if (!texts.length) continue;
      for (const e of encodings) {
        const counts = await counter.count(e, texts);
        promptBy[i]!.set(e, promptBy[i]!.get(e)! + sum(counts));
        const checks = windowed.filter((w) => w.encoding === e && w.template === i);
        if (checks.length === 0) continue;
        let start = 0;
        for (const r of rowsInBatches[i]!) {
          let tokens = r.framing;
          for (let k = start; k < r.end; k++) tokens += counts[k]!;
          start = r.end;
          for (const w of checks) {
            const prompt = tokens + extras[w.cell.index]!;
            if (prompt <= w.window) continue;
            const o = overflows.get(w.cell.id);
            if (o) {
              o.rows++;
              o.max_prompt_tokens = Math.max(o.max_prompt_tokens, prompt);
            } else {
              overflows.set(w.cell.id, { cell: w.cell.id, model: w.model, context_window: w.window, rows: 1, max_prompt_tokens: prompt, first: { row_id: r.row.id, file: r.row.source.file, line: r.row.source.line, prompt_tokens: prompt } });
            }
          }
        }
      }
    }
  };
  let rowCount = 0;
  let queued = 0;
  for await (const row of rows) {
    rowCount++;
    for (const [i, template] of templates.entries()) {
      const messages = row.messages ?? (template ? renderMessages(template, row.vars) : []);
      let rowFraming = 3;
      for (const m of messages) {
        rowFraming += 3;
        pending[i]!.push(String(m.role), contentText(m.content));
        queued += 2;
        if (typeof m['name'] === 'string') {
          rowFraming += 1;
          pending[i]!.push(m['name']);
        }
      }
      framing[i]! += rowFraming;
      pendingRows[i]!.push({ row, end: pending[i]!.length, framing: rowFraming });
    }
    if (queued >= 4096) {
      queued = 0;
      await flush();
    }
  }
  await flush();
  for (const [i, by] of promptBy.entries()) for (const e of encodings) by.set(e, by.get(e)! + framing[i]!);
  const pricing = config.pricing ?? {};
  // Batch mode (`batch:` or `plan --batch`) pays half the list price.
  const factor = config.batch ? BATCH_PRICE_FACTOR : 1;
  const estimates = cells.map((cell): CellEstimate => {
    const model = String(cell.params['model']);
    const { encoding } = encodingFor(model);
    // n_mode repeat sends the prompt once per choice.
    const sends = config.nMode === 'repeat' ? cell.n : 1;
    const prompt = (promptBy[slot.get(perCell[cell.index])!]!.get(encoding)! + rowCount * extras[cell.index]!) * sends;
    const limit = cell.params['max_completion_tokens'] ?? cell.params['max_tokens'];
    const maxCompletion = typeof limit === 'number' ? limit * cell.n * rowCount : null;
    const price = priceFor(model, pricing);
    const promptCost = costUsd(price, prompt, 0, factor);
    return {
      id: cell.id,
      ...(cell.prompt !== undefined ? { prompt: cell.prompt } : {}),
      model,
      encoding,
      prompt_tokens: prompt,
      max_completion_tokens: maxCompletion,
      prompt_cost_usd: promptCost,
      max_cost_usd: maxCompletion === null ? null : costUsd(price, prompt, maxCompletion, factor),
    };
  });
  const total = (xs: Array<number | null>) => (xs.some((x) => x === null) ? null : xs.reduce<number>((s, x) => s + x!, 0));
  const models = [...new Set(estimates.map((e) => e.model))];
  const byPrompt = config.prompts?.map((p) => {
    const mine = estimates.filter((e) => e.prompt === p.name);
    return {
      prompt: p.name,
      cells: mine.length,
      prompt_tokens: mine.reduce((s, e) => s + e.prompt_tokens, 0),
      max_completion_tokens: total(mine.map((e) => e.max_completion_tokens)),
      prompt_cost_usd: total(mine.map((e) => e.prompt_cost_usd)),
      max_cost_usd: total(mine.map((e) => e.max_cost_usd)),
    };
  });
  const judges = await estimateJudges(config, cells, estimates, rowCount, counter, factor);
  return {
    prices_as_of: PRICES_AS_OF,
    ...(config.batch ? { batch: true } : {}),
    ...(judges.length ? { judges, judge_cost_usd: total(judges.map((j) => j.cost_usd)) } : {}),
    cells: estimates,
    ...(byPrompt ? { by_prompt: byPrompt } : {}),
    prompt_tokens: estimates.reduce((s, e) => s + e.prompt_tokens, 0),
    max_completion_tokens: total(estimates.map((e) => e.max_completion_tokens)),
    prompt_cost_usd: total(estimates.map((e) => e.prompt_cost_usd)),
    max_cost_usd: total(estimates.map((e) => e.max_cost_usd)),
    unknown_models: models.filter((m) => !priceFor(m, pricing)),
    approximate_models: models.filter((m) => !encodingFor(m).known),
    context_overflows: [...overflows.values()],
  };
}

async function estimateJudges(config: Config, cells: readonly Cell[], estimates: readonly CellEstimate[], rows: number, counter: TokenCounter, factor: number): Promise<JudgeEstimate[]> {
  const out: JudgeEstimate[] = [];
  const baseline = Math.max(0, cells.findIndex((c) => c.id === config.compare?.baseline));
  for (const spec of config.checks ?? []) {
    const judge = spec.judge;
    if (spec.type !== 'judge' || !judge) continue;
    const { encoding } = encodingFor(judge.model);
    const pairwise = judge.preset === 'pairwise';
    const bare = judgeMessages(judge, { conversation: [] });
    const fixed = chatTokens(bare, () => 0) + sum(await counter.count(encoding, [...bare.map((m) => m.content), JSON.stringify(judgeResponseFormat(judge))]));
    const limit = judge.params['max_completion_tokens'] ?? judge.params['max_tokens'];
    const perCall = typeof limit === 'number' ? limit : JUDGE_COMPLETION_TOKENS;
    let calls = 0;
    let prompt = 0;
    for (const cell of cells) {
      if (pairwise && cell.index === baseline) continue;
      const perChoice = pairwise ? 2 : judge.votes;
      const n = rows * cell.n * perChoice;
      const answerLimit = cell.params['max_completion_tokens'] ?? cell.params['max_tokens'];
      const answer = typeof answerLimit === 'number' ? answerLimit * (pairwise ? 2 : 1) : 0;
      calls += n;
      prompt += n * (fixed + answer) + (estimates[cell.index]!.prompt_tokens / Math.max(1, config.nMode === 'repeat' ? cell.n : 1)) * cell.n * perChoice;
    }
    const completion = calls * perCall;
    out.push({ check: spec.name, model: judge.model, calls, prompt_tokens: Math.round(prompt), completion_tokens: completion, cost_usd: costUsd(priceFor(judge.model, config.pricing ?? {}), Math.round(prompt), completion, factor) });
  }
  return out;
}

/** The most one request can be billed for, in tokens: what the spend limit reserves before sending it. */
export interface WorstCase {
  prompt: number;
  completion: number;
}

/**
 * A request's worst case: its prompt tokens as `plan` counts them (chat framing, tool definitions and json_schema;
 * n times with `n_mode: repeat`, which sends the prompt once per choice) plus max_tokens (or
 * max_completion_tokens, or else the model's output limit) × n. Cached input is never assumed. A string when there
 * is no bound: no max_tokens and no known output limit.
 */
export type WorstCaseOf = (task: Task) => WorstCase | string;

/**
 * Loads the tokenizers the cells' models (and `otherModels`: the judges') use, then counts on this thread,
 * synchronously, one request at a time.
 */
export async function loadWorstCase(cells: readonly Cell[], nMode: 'native' | 'repeat' | undefined, otherModels: readonly string[] = []): Promise<WorstCaseOf> {
  const encodings = new Map<EncodingName, Counter>();
  for (const model of [...cells.map((c) => String(c.params['model'])), ...otherModels]) {
    const { encoding } = encodingFor(model);
    if (!encodings.has(encoding)) encodings.set(encoding, await loadCount(encoding));
  }
  // A plan's bodies share their cell's tools and schema objects: each is counted once.
  const extras = new WeakMap<object, number>();
  return (task) => {
    const model = task.body.model;
    const count = encodings.get(encodingFor(model).encoding) ?? encodings.values().next().value!;
    let extra = 0;
    for (const part of extraParts(task.body)) {
      let c = extras.get(part);
      if (c === undefined) extras.set(part, (c = count(JSON.stringify(part))));
      extra += c;
    }
    const n = task.cell.n;
    const limit = task.body['max_completion_tokens'] ?? task.body['max_tokens'];
    const perChoice = typeof limit === 'number' ? limit : outputLimit(model);
    if (perChoice === undefined) return `cell ${task.cell.id} sets no max_tokens and the output limit of model '${model}' is unknown, so a request's cost has no upper bound`;
    const prompt = chatTokens(task.body.messages, count) + extra;
    return { prompt: prompt * (nMode === 'repeat' ? n : 1), completion: perChoice * n };
  };
}
