import type { CommandModule } from 'yargs';
import type { CommandContext } from '../main.js';

interface PlanArgs {
  config: string;
  json?: boolean | undefined;
  shard?: string | undefined;
}

export function planCommand(ctx: CommandContext): CommandModule<object, PlanArgs> {
  return {
    command: 'plan <config>',
    describe: 'Check the config and datasets and show what a run would send, without sending anything',
    builder: (y) =>
      y
        .positional('config', { type: 'string', demandOption: true, describe: 'The YAML config file' })
        .option('json', { type: 'boolean', describe: 'Print the plan as JSON' })
        .option('shard', { type: 'string', describe: "Show the I-th of K shards' share of the plan (e.g. 2/5)" }),
    handler: async (args) => {
      const { parseShard, shardRange, shardRows, shardRowsText } = await import('../../plan/shard.js');
      const spec = args.shard === undefined ? undefined : parseShard(args.shard);
      // The tokenizer starts loading in a worker first, while this thread reads the config and the datasets.
      const { startTokenCounter } = await import('../../plan/token-counter.js');
      const counter = startTokenCounter();
      const { prepareRun } = await import('../../prepare-run.js');
      const { estimateCost } = await import('../../plan/cost.js');
      const { readRows } = await import('../../dataset/load.js');
      const { formatUsd } = await import('../../report/cost-summary.js');
      let cost: Awaited<ReturnType<typeof estimateCost>>;
      let prepared: Awaited<ReturnType<typeof prepareRun>>;
      let shard: ReturnType<typeof shardRange> | undefined;
      try {
        prepared = await prepareRun({ config: args.config });
        const range = spec ? shardRange(spec, prepared.plan.rows, prepared.cells) : undefined;
        shard = range;
        const rows = range ? shardRows(readRows(prepared.config), range) : readRows(prepared.config);
        cost = await estimateCost(prepared.config, prepared.cells, rows, counter);
      } finally {
        await counter.close();
      }
      const { config } = prepared;
      const { summarizePlan } = await import('../../plan/build-plan.js');
      // A shard's share: its rows over every cell (the whole run's plan is in the header line).
      const plan = shard ? summarizePlan(shard.rows[1] - shard.rows[0], prepared.cells) : prepared.plan;
      // n_mode repeat sends one HTTP request per choice: what the rate limits and the bill see.
      const httpRequests = config.nMode === 'repeat' ? plan.choices : plan.requests;
      if (args.json) {
        const shardJson = shard ? { shard: { index: shard.index, count: shard.count, rows: shard.rows, first_seq: shard.first_seq, plan_rows: prepared.plan.rows, plan_requests: prepared.plan.requests } } : {};
        ctx.io.out(`${JSON.stringify({ name: config.name, ...shardJson, ...plan, http_requests: httpRequests, cost }, null, 2)}\n`);
        return;
      }
      const width = Math.max(4, ...plan.cells.map((c) => c.id.length));
      const tok = (v: number | null) => (v === null ? 'no limit' : v.toLocaleString('en-US'));
      const table = [
        ['cell', 'n', 'requests', 'choices', 'prompt tok', 'max compl tok', 'max cost'],
        ...plan.cells.map((c, i) => {
          const e = cost.cells[i]!;
          return [c.id, String(c.n), String(c.requests), String(c.choices), tok(e.prompt_tokens), tok(e.max_completion_tokens), formatUsd(e.max_cost_usd)];
        }),
      ];
      const widths = table[0]!.map((_, i) => Math.max(i === 0 ? width : 0, ...table.map((r) => r[i]!.length)));
      const notes = [
        ...(httpRequests !== plan.requests ? [`n_mode repeat: ${httpRequests} HTTP requests, one per choice (prompt tokens count once per choice)`] : []),
        ...(cost.unknown_models.length ? [`no price for ${cost.unknown_models.join(', ')}: its cost is unknown; add it under 'pricing:' (USD per 1M tokens)`] : []),
        ...(cost.approximate_models.length ? [`tokenizer of ${cost.approximate_models.join(', ')} unknown: counted with o200k_base, an estimate`] : []),
        ...(cost.max_completion_tokens === null ? ['some cells set no max_tokens: completion tokens and cost have no upper bound'] : []),
      ];
      const lines = [
        shard
          ? `${config.name}, shard ${shard.index}/${shard.count}: ${shardRowsText(shard.rows, prepared.plan.rows)} (${plan.rows} rows) × ${plan.cells.length} cells = ${plan.requests} of the plan's ${prepared.plan.requests} requests`
          : `${config.name}: ${plan.rows} rows × ${plan.cells.length} cells`,
        '',
        ...table.map((r) => r.map((v, i) => (i === 0 ? v.padEnd(widths[i]!) : v.padStart(widths[i]!))).join('  ')),
        '',
        `total: ${plan.requests} requests, ${plan.choices} choices (nothing was sent)`,
        `tokens: ${tok(cost.prompt_tokens)} prompt (counted with the model's tokenizer) + at most ${tok(cost.max_completion_tokens)} completion (max_tokens × n)`,
        `cost: ${formatUsd(cost.prompt_cost_usd)} prompt, at most ${formatUsd(cost.max_cost_usd)} in all (list prices as of ${cost.prices_as_of}; 'pricing:' overrides)`,
        ...notes.map((n) => `note: ${n}`),
      ];
      ctx.io.out(`${lines.join('\n')}\n`);
    },
  };
}
