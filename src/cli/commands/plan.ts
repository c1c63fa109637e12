import type { CommandModule } from 'yargs';
import { UsageError } from '../../errors.js';
import type { CommandContext } from '../main.js';
import { maxCostArg } from '../max-cost.js';
import type { Config } from '../../contracts/config.js';
import type { Cell } from '../../contracts/plan.js';
import type { ShardRange } from '../../plan/index.js';
import { plural } from '../../util/plural.js';
import { textTable } from '../../util/text-table.js';
import { OPENAI_BASE_URL, resolveEndpoint } from '../../contracts/endpoint.js';

interface PlanArgs {
  config: string;
  json?: boolean | undefined;
  show?: number | undefined;
  shard?: string | undefined;
  batch?: boolean | undefined;
  'max-cost'?: number | undefined;
}

/** One request as `plan --show` prints it: where it goes, with which headers, and the body the SDK serialises. */
interface ShownRequest {
  seq: number;
  row_id: string;
  cell: string;
  url: string;
  headers: Record<string, string>;
  body: Record<string, unknown>;
}

/**
 * The first `count` requests, rendered by the same lazy task stream `run` sends from (planTasks), so what is shown
 * is what would be sent; only the first rows are read. Secrets are redacted by the caller.
 */
async function firstRequests(config: Config, cells: readonly Cell[], count: number, env: NodeJS.ProcessEnv): Promise<ShownRequest[]> {
  const { planTasks } = await import('../../plan/index.js');
  const { readRows } = await import('../../dataset/index.js');
  const { redactUrl } = await import('../../util/redact.js');
  const p = config.provider;
  const resolved = resolveEndpoint(p, env);
  const base = p.kind === 'simulator' ? '(the built-in simulator)' : redactUrl(resolved.baseUrl ?? OPENAI_BASE_URL);
  const query = new URLSearchParams(p.query).toString();
  const url = `${base.replace(/\/+$/, '')}/chat/completions${query ? `?${query}` : ''}`;
  const headers: Record<string, string> = { 'Content-Type': 'application/json' };
  if (p.kind !== 'simulator') {
    // As the run does: a local server without a key gets a placeholder; OpenAI without one is refused (exit 5).
    headers['Authorization'] =
      resolved.apiKey === undefined
        ? `(none: ${p.apiKeyEnv} is not set; run would stop before sending, exit 5)`
        : resolved.placeholder
          ? `Bearer ${resolved.apiKey} (a placeholder: ${p.apiKeyEnv} is not set)`
          : `Bearer ${resolved.apiKey}`;
  }
  if (p.organization) headers['OpenAI-Organization'] = p.organization;
  Object.assign(headers, p.headers);
  const shown: ShownRequest[] = [];
  if (count === 0) return shown;
  for await (const task of planTasks(config, cells, readRows(config))) {
    shown.push({ seq: task.seq, row_id: task.row.id, cell: task.cell.id, url, headers, body: task.body });
    // Leaving the loop closes the task stream and with it the dataset reader: the rest is never read.
    if (shown.length >= count) break;
  }
  return shown;
}

export function planCommand(ctx: CommandContext): CommandModule<object, PlanArgs> {
  return {
    command: 'plan <config>',
    describe: 'Check the config and datasets and count the requests, tokens and cost of a run, without sending anything',
    builder: (y) =>
      y
        .positional('config', { type: 'string', demandOption: true, describe: 'The YAML config file' })
        .option('json', { type: 'boolean', describe: 'Print the plan as JSON' })
        .option('show', { type: 'number', describe: 'Also print the first N requests as they would be sent (secrets redacted)' })
        .option('shard', { type: 'string', describe: "Show the I-th of K shards' share of the plan (e.g. 2/5)" })
        .option('batch', { type: 'boolean', describe: 'Price the run for the Batch API (half the list price)' })
        .option('max-cost', { type: 'number', describe: "A spend limit in USD (over the config's budget_usd): say whether the worst case fits it" }),
    handler: async (args) => {
      const show = args.show ?? 0;
      if (!(Number.isInteger(show) && show >= 0)) throw new UsageError(`--show must be a whole number of requests, 0 or more (got ${String(args.show)})`);
      const { parseShard, shardRange, shardRows, shardRowsText } = await import('../../plan/index.js');
      const spec = args.shard === undefined ? undefined : parseShard(args.shard);
      // The tokenizer starts loading in a worker first, while this thread reads the config and the datasets.
      const { startTokenCounter } = await import('../../plan/index.js');
      const counter = startTokenCounter();
      const { openScriptChecks, prepareRun } = await import('../../app/prepare.js');
      const { estimateCost } = await import('../../plan/index.js');
      const { readRows } = await import('../../dataset/index.js');
      const { formatUsd } = await import('../../report/index.js');
      let cost: Awaited<ReturnType<typeof estimateCost>>;
      let prepared: Awaited<ReturnType<typeof prepareRun>>;
      let shard: ReturnType<typeof shardRange> | undefined;
      try {
        const maxCost = maxCostArg(args['max-cost']);
        prepared = await prepareRun({ config: args.config, env: ctx.io.env, batch: args.batch, maxCost });
        // A script check's module must load and have its export, as `run` requires before sending anything.
        await (await openScriptChecks(prepared.config))?.close();
        const range = spec ? shardRange(spec, prepared.plan.rows, prepared.cells) : undefined;
        shard = range;
        const rows = range ? shardRows(readRows(prepared.config), range) : readRows(prepared.config);
        cost = await estimateCost(prepared.config, prepared.cells, rows, counter);
      } finally {
        await counter.close();
      }
      const { config } = prepared;
      const { summarizePlan } = await import('../../plan/index.js');
      // A shard's share: its rows over every cell (the whole run's plan is in the header line).
      const plan = shard ? summarizePlan(shard.rows[1] - shard.rows[0], prepared.cells) : prepared.plan;
      // n_mode repeat sends one HTTP request (or batch line) per choice: what the rate limits and the bill see.
      const httpRequests = config.nMode === 'repeat' ? plan.choices : plan.requests;
      const { makeRedactor } = await import('../../util/redact.js');
      // What the run's redactor would scrub: the key, configured header and query values, wherever they appear
      // (a key pasted into a param or a dataset row included).
      const p = config.provider;
      const redact = p.kind === 'simulator' ? (t: string) => t : makeRedactor(resolveEndpoint(p, ctx.io.env).secrets);
      const shown = await firstRequests(config, prepared.cells, show, ctx.io.env);
      const fit = config.budgetUsd === undefined ? undefined : await budgetFit(config, prepared.cells, shard, formatUsd);
      const { formatIssue } = await import('../../errors.js');
      for (const w of config.warnings ?? []) ctx.io.err(`warning: ${formatIssue(w)}\n`);
      for (const o of cost.context_overflows) {
        const more = o.rows > 1 ? ` (and ${o.rows - 1} more row${o.rows === 2 ? '' : 's'}, up to ${o.max_prompt_tokens.toLocaleString('en-US')} tokens)` : '';
        ctx.io.err(`warning: ${o.first.file}:${o.first.line} row ${o.first.row_id}: the prompt is ${o.first.prompt_tokens.toLocaleString('en-US')} tokens, more than ${o.model}'s context window of ${o.context_window.toLocaleString('en-US')}${more}; the API will refuse these requests of cell ${o.cell}\n`);
      }
      if (args.json) {
        const cells = plan.cells.map((c, i) => {
          const prompt = prepared.cells[i]!.prompt;
          return { ...c, ...(prompt !== undefined ? { prompt } : {}), params: prepared.cells[i]!.params };
        });
        const shardJson = shard ? { shard: { index: shard.index, count: shard.count, rows: shard.rows, first_seq: shard.first_seq, plan_rows: prepared.plan.rows, plan_requests: prepared.plan.requests } } : {};
        ctx.io.out(redact(`${JSON.stringify({ name: config.name, ...shardJson, ...plan, http_requests: httpRequests, ...(cost.batch ? { batch_lines: httpRequests } : {}), cells, cost, ...(fit ? { budget: fit.json } : {}), ...(show ? { requests_shown: shown } : {}) }, null, 2)}\n`));
        return;
      }
      const tok = (v: number | null) => (v === null ? 'no limit' : v.toLocaleString('en-US'));
      const completion = cost.max_completion_tokens === null ? 'completion with no upper bound (some cells set no max_tokens)' : `at most ${tok(cost.max_completion_tokens)} completion (max_tokens × n)`;
      const total = cost.max_cost_usd !== null ? `at most ${formatUsd(cost.max_cost_usd)} in all` : cost.max_completion_tokens === null ? 'no upper bound in all' : 'unknown in all';
      const table = textTable(
        [{ header: 'cell', align: 'left' }, ...['n', 'requests', 'choices', 'prompt tok', 'max compl tok', 'max cost'].map((header) => ({ header, align: 'right' as const }))],
        plan.cells.map((c, i) => {
          const e = cost.cells[i]!;
          return [c.id, String(c.n), String(c.requests), String(c.choices), tok(e.prompt_tokens), tok(e.max_completion_tokens), e.max_completion_tokens === null ? 'no limit' : formatUsd(e.max_cost_usd)];
        }),
      );
      const notes = [
        ...(httpRequests !== plan.requests ? [`n_mode repeat: ${httpRequests} ${cost.batch ? 'batch lines' : 'HTTP requests'}, one per choice (prompt tokens count once per choice)`] : []),
        ...(cost.unknown_models.length ? [`no price for ${cost.unknown_models.join(', ')}: its cost is unknown; add it under 'pricing:' (USD per 1M tokens)`] : []),
        ...(cost.approximate_models.length ? [`tokenizer of ${cost.approximate_models.join(', ')} unknown: counted with o200k_base, an estimate`] : []),
        ...(cost.max_completion_tokens === null ? ['some cells set no max_tokens: completion tokens and cost have no upper bound'] : []),
      ];
      const lines = [
        shard
          ? `${config.name}, shard ${shard.index}/${shard.count}: ${shardRowsText(shard.rows, prepared.plan.rows)} (${plural(plan.rows, 'row')}) × ${plural(plan.cells.length, 'cell')} = ${plan.requests} of the plan's ${prepared.plan.requests} requests`
          : `${config.name}: ${plural(plan.rows, 'row')} × ${plural(plan.cells.length, 'cell')}`,
        '',
        ...table,
        '',
        ...(cost.by_prompt
          ? [
              'per prompt variant:',
              ...cost.by_prompt.map((p) => `  ${p.prompt}: ${plural(p.cells, 'cell')}, ${tok(p.prompt_tokens)} prompt tokens, ${formatUsd(p.prompt_cost_usd)} prompt, ${p.max_completion_tokens === null ? 'no upper bound' : `at most ${formatUsd(p.max_cost_usd)}`} in all`),
              '',
            ]
          : []),
        `total: ${plan.requests} requests, ${plan.choices} choices (nothing was sent)`,
        `tokens: ${tok(cost.prompt_tokens)} prompt (counted with the model's tokenizer) + ${completion}`,
        `cost: ${formatUsd(cost.prompt_cost_usd)} prompt, ${total} (${cost.batch ? 'Batch API: half the ' : ''}list prices as of ${cost.prices_as_of}; 'pricing:' overrides)`,
        ...(cost.judges
          ? [
              `judges: ${cost.judges.reduce((s, j) => s + j.calls, 0).toLocaleString('en-US')} calls, about ${formatUsd(cost.judge_cost_usd ?? null)} besides the answers`,
              ...cost.judges.map((j) => `  ${j.check} (${j.model}): ${j.calls.toLocaleString('en-US')} calls, ~${tok(j.prompt_tokens)} prompt + ~${tok(j.completion_tokens)} completion tokens, ~${formatUsd(j.cost_usd)}`),
            ]
          : []),
        ...(fit ? [fit.line] : []),
        ...notes.map((n) => `note: ${n}`),
      ];
      for (const r of shown) {
        lines.push(
          '',
          `request ${r.seq + 1} of ${plan.requests}: row ${r.row_id}, cell ${r.cell}`,
          `POST ${r.url}`,
          ...Object.entries(r.headers).map(([k, v]) => `${k}: ${v}`),
          JSON.stringify(r.body, null, 2),
        );
      }
      ctx.io.out(redact(`${lines.join('\n')}\n`));
    },
  };
}

/**
 * Whether the plan's worst case fits the spend limit, by the run's own rule (src/run/budget.ts): every request's
 * worst case reserved in plan order, and how many fit before the first that does not (where a batch run stops; a
 * synchronous one may send more, as answers settle below their worst case).
 */
async function budgetFit(config: Config, cells: readonly Cell[], shard: ShardRange | undefined, usd: (v: number) => string) {
  const { loadWorstCase, planTasks, shardRows } = await import('../../plan/index.js');
  const { readRows } = await import('../../dataset/index.js');
  const { Budget } = await import('../../run/index.js');
  const { BATCH_PRICE_FACTOR } = await import('../../contracts/prices.js');
  const limit = config.budgetUsd!;
  const budget = new Budget({ limitUsd: limit, spentUsd: 0, worstCase: await loadWorstCase(cells, config.nMode), prices: config.pricing ?? {}, factor: config.batch ? BATCH_PRICE_FACTOR : 1, usd });
  let requests = 0;
  let fitting = 0;
  let worst = 0;
  const rows = shard ? shardRows(readRows(config), shard) : readRows(config);
  for await (const task of planTasks(config, cells, rows)) {
    requests++;
    worst += budget.worstUsd(task);
    if (!budget.stopped && budget.reserveNow(task)) fitting++;
  }
  const fits = fitting === requests;
  const line = fits
    ? `budget: ${usd(limit)}; the worst case, ${usd(worst)} for ${plural(requests, 'request')}, fits`
    : `budget: ${usd(limit)}; the worst case, ${usd(worst)} for ${plural(requests, 'request')}, does not fit: the first ${fitting} requests fit at their worst case ` +
      '(a run stops at the first request whose worst case does not fit; answers usually cost less, so a synchronous run may send more)';
  const judged = (config.checks ?? []).some((c) => c.judge !== undefined);
  const noteJudges = judged ? '; judge calls are reserved as they are sent, and are not in this worst case (their estimate is the judges line)' : '';
  return { line: line + noteJudges, json: { limit_usd: limit, worst_case_usd: worst, requests, fits, requests_fit: fitting } };
}
