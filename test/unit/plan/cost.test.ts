import { describe, expect, it } from 'vitest';
import { chatTokens, encodingFor, estimateCost, loadWorstCase } from '../../../src/plan/cost.js';
import { planTasks } from '../../../src/plan/build-plan.js';
import { costUsd, priceFor, PRICES, PRICES_AS_OF, type BilledTokens } from '../../../src/contracts/prices.js';
import { costSection, formatUsd } from '../../../src/report/cost-summary.js';
import type { Cell } from '../../../src/contracts/plan.js';
import type { Row } from '../../../src/contracts/dataset.js';
import type { CellStats, Summary } from '../../../src/contracts/summary.js';
import { formatCost } from '../../../src/report/console-evaluation.js';
import { collect, makeConfig } from '../../helpers/config.js';

async function* rowsOf(texts: string[]): AsyncGenerator<Row> {
  for (const [index, text] of texts.entries()) yield { id: String(index + 1), index, vars: { text }, messages: undefined, source: { file: 'x', line: index + 2 } };
}
const cell = (index: number, params: Record<string, unknown>, n = 1): Cell => ({ id: `c${index}`, index, params, n, jsonMode: false });

describe('price table', () => {
  it('has a date and per-1M prices for the common models', () => {
    expect(PRICES_AS_OF).toMatch(/^\d{4}-\d{2}-\d{2}$/);
    for (const m of ['gpt-4o', 'gpt-4o-mini', 'gpt-4.1', 'gpt-4.1-mini', 'gpt-5', 'o3', 'o4-mini']) expect(PRICES[m], m).toBeDefined();
  });

  it('finds snapshots by their base name but never by prefix, and lets the config override', () => {
    expect(priceFor('gpt-4o-mini-2024-07-18')).toEqual(PRICES['gpt-4o-mini']);
    expect(priceFor('gpt-4o-mini')).not.toEqual(PRICES['gpt-4o']);
    expect(priceFor('llama-3-8b')).toBeUndefined();
    expect(priceFor('gpt-4o', { 'gpt-4o': { input: 1, output: 1 } })).toEqual({ input: 1, output: 1 });
    expect(priceFor('llama-3-8b', { 'llama-3-8b': { input: 0, output: 0 } })).toEqual({ input: 0, output: 0 });
  });

  it('prices per million tokens, and an unknown price is unknown, not $0', () => {
    expect(costUsd({ input: 0.15, output: 0.6 }, 1_000_000, 500_000)).toBeCloseTo(0.45, 12);
    expect(costUsd(undefined, 10, 10)).toBeNull();
    expect(formatUsd(null)).toBe('unknown');
    expect(formatUsd(0.0123456)).toBe('$0.0123');
    expect(formatUsd(12.345)).toBe('$12.35');
  });
});

describe('token counting', () => {
  it('uses o200k_base for GPT-4o and later, cl100k_base for GPT-4 and 3.5, and flags unknown models', () => {
    expect(encodingFor('gpt-4o-mini')).toEqual({ encoding: 'o200k_base', known: true });
    expect(encodingFor('gpt-4.1-nano')).toEqual({ encoding: 'o200k_base', known: true });
    expect(encodingFor('gpt-4-turbo')).toEqual({ encoding: 'cl100k_base', known: true });
    expect(encodingFor('gpt-3.5-turbo')).toEqual({ encoding: 'cl100k_base', known: true });
    expect(encodingFor('mistral-7b')).toEqual({ encoding: 'o200k_base', known: false });
  });

  it('counts chat framing like the OpenAI cookbook: 3 per message + role + content, 3 to prime the reply', async () => {
    const { countTokens } = await import('gpt-tokenizer/encoding/o200k_base');
    expect(countTokens('Hello, world!')).toBe(4); // a real BPE, not characters / 4
    const n = chatTokens([{ role: 'user', content: 'Hello, world!' }], countTokens);
    expect(n).toBe(3 + (3 + 1 + 4));
  });
});

describe('estimateCost', () => {
  it('counts every row with the real tokenizer and bounds completions by max_tokens × n', async () => {
    const config = makeConfig({ messages: [{ role: 'user', content: 'Classify: {{text}}' }] });
    const cells = [cell(0, { model: 'gpt-4o-mini', max_tokens: 100 }, 3), cell(1, { model: 'my-local-model', max_tokens: 50 })];
    const e = await estimateCost(config, cells, rowsOf(['short', 'a somewhat longer ticket text about invoices']));
    const { countTokens } = await import('gpt-tokenizer/encoding/o200k_base');
    const expected = chatTokens([{ role: 'user', content: 'Classify: short' }], countTokens) + chatTokens([{ role: 'user', content: 'Classify: a somewhat longer ticket text about invoices' }], countTokens);
    expect(e.cells[0]!.prompt_tokens).toBe(expected);
    expect(e.cells[0]!.max_completion_tokens).toBe(100 * 3 * 2);
    expect(e.cells[0]!.max_cost_usd).toBeCloseTo((expected * 0.15 + 600 * 0.6) / 1e6, 12);
    expect(e.cells[1]!.max_cost_usd).toBeNull();
    expect(e.max_cost_usd).toBeNull();
    expect(e.unknown_models).toEqual(['my-local-model']);
    expect(e.approximate_models).toEqual(['my-local-model']);
  });

  it('has no completion bound without max_tokens, and uses config pricing', async () => {
    const config = makeConfig({ pricing: { 'my-local-model': { input: 1, output: 2 } } });
    const e = await estimateCost(config, [cell(0, { model: 'my-local-model' })], rowsOf(['x']));
    expect(e.max_completion_tokens).toBeNull();
    expect(e.prompt_cost_usd).toBeCloseTo(e.prompt_tokens / 1e6, 12);
    expect(e.unknown_models).toEqual([]);
  });
});

describe('actual cost after a run', () => {
  it('prices billed usage per model and reports an unknown model as unknown', () => {
    const cells = [{ model: 'gpt-4o-mini' }, { model: 'gpt-4o-mini' }, { model: 'local' }] as CellStats[];
    const c = costSection(cells, [billed(1e6, 0), billed(0, 1e6), billed(10, 10)], {}, false);
    expect(c.by_model[0]).toMatchObject({ model: 'gpt-4o-mini', prompt_tokens: 1e6, completion_tokens: 1e6, cost_usd: 0.75 });
    expect(c.cost_usd).toBeNull();
    expect(c.known_cost_usd).toBe(0.75);
    expect(c.unknown_models).toEqual(['local']);
    expect(c.batch).toBeUndefined();
  });

  it('prices Batch API answers at half the list price, also when only some came through it', () => {
    const cells = [{ model: 'gpt-4o-mini' }, { model: 'gpt-4o-mini' }] as CellStats[];
    const all = costSection(cells, [billed(1e6, 0, 1e6, 0), billed(0, 1e6, 0, 1e6)], {}, false, true);
    expect(all.cost_usd).toBeCloseTo(0.375, 9);
    expect(all).toMatchObject({ batch: true, batch_prompt_tokens: 1e6, batch_completion_tokens: 1e6 });
    // A synchronous run resumed with --batch: the first cell's tokens were sent synchronously.
    const mixed = costSection(cells, [billed(1e6, 0), billed(0, 1e6, 0, 1e6)], {}, false, true);
    expect(mixed.cost_usd).toBeCloseTo(0.15 + 0.3, 9);
    expect(mixed).toMatchObject({ batch: true, batch_prompt_tokens: 0, batch_completion_tokens: 1e6 });
    expect(formatCost({ cost: mixed } as Summary)).toContain('of these, 0 prompt + 1,000,000 completion tokens through the Batch API at half the list price');
    expect(formatCost({ cost: all } as Summary)).toContain('Batch API: half the list price');
  });
});

function billed(prompt: number, completion: number, batchPrompt = 0, batchCompletion = 0): BilledTokens {
  return { prompt, cached: 0, completion, batch: { prompt: batchPrompt, cached: 0, completion: batchCompletion } };
}

describe('loadWorstCase (what the spend limit reserves per request)', () => {
  const texts = ['short', 'a somewhat longer ticket text about invoices'];
  const tools = [{ type: 'function', function: { name: 'label', parameters: { type: 'object', properties: { x: { type: 'string' } } } } }];

  for (const nMode of ['native', 'repeat'] as const) {
    it(`sums over the plan to plan's own totals (n_mode ${nMode}, tools counted)`, async () => {
      const config = makeConfig({ messages: [{ role: 'user', content: 'Classify: {{text}}' }], nMode });
      const cells = [cell(0, { model: 'gpt-4o-mini', max_tokens: 100, tools }, 3), cell(1, { model: 'gpt-4', max_tokens: 20 })];
      const e = await estimateCost(config, cells, rowsOf(texts));
      const worstCase = await loadWorstCase(cells, nMode);
      let prompt = 0;
      let completion = 0;
      for await (const task of planTasks(config, cells, rowsOf(texts))) {
        const w = worstCase(task);
        if (typeof w === 'string') throw new Error(w);
        prompt += w.prompt;
        completion += w.completion;
      }
      expect(prompt).toBe(e.prompt_tokens);
      expect(completion).toBe(e.max_completion_tokens);
    });
  }

  it("without max_tokens: the model's output limit × n, or no bound for a model whose limit is unknown", async () => {
    const config = makeConfig({ messages: [{ role: 'user', content: '{{text}}' }] });
    const cells = [cell(0, { model: 'gpt-4o-mini-2024-07-18' }, 2), cell(1, { model: 'my-local-model' })];
    const worstCase = await loadWorstCase(cells, 'native');
    const [a, b] = (await collect(planTasks(config, cells, rowsOf(['x'])))).map(worstCase);
    expect(a).toMatchObject({ completion: 16_384 * 2 });
    expect(b).toMatch(/sets no max_tokens and the output limit of model 'my-local-model' is unknown/);
  });
});
