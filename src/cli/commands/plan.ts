import type { CommandModule } from 'yargs';
import type { CommandContext } from '../main.js';

interface PlanArgs {
  config: string;
  json?: boolean | undefined;
}

export function planCommand(ctx: CommandContext): CommandModule<object, PlanArgs> {
  return {
    command: 'plan <config>',
    describe: 'Check the config and datasets and count the requests, tokens and cost of a run, without sending anything',
    builder: (y) =>
      y
        .positional('config', { type: 'string', demandOption: true, describe: 'The YAML config file' })
        .option('json', { type: 'boolean', describe: 'Print the plan as JSON' }),
    handler: async (args) => {
      // The tokenizer starts loading in a worker first, while this thread reads the config and the datasets.
      const { startTokenCounter } = await import('../../plan/token-counter.js');
      const counter = startTokenCounter();
      const { prepareRun } = await import('../../prepare-run.js');
      const { estimateCost } = await import('../../plan/cost.js');
      const { readRows } = await import('../../dataset/load.js');
      const { formatUsd } = await import('../../report/cost-summary.js');
      let cost: Awaited<ReturnType<typeof estimateCost>>;
      let prepared: Awaited<ReturnType<typeof prepareRun>>;
      try {
        prepared = await prepareRun({ config: args.config, env: ctx.io.env });
        cost = await estimateCost(prepared.config, prepared.cells, readRows(prepared.config), counter);
      } finally {
        await counter.close();
      }
      const { plan, config } = prepared;
      const { formatIssue } = await import('../../errors.js');
      for (const w of config.warnings ?? []) ctx.io.err(`warning: ${formatIssue(w)}\n`);
      for (const o of cost.context_overflows) {
        const more = o.rows > 1 ? ` (and ${o.rows - 1} more row${o.rows === 2 ? '' : 's'}, up to ${o.max_prompt_tokens.toLocaleString('en-US')} tokens)` : '';
        ctx.io.err(`warning: ${o.first.file}:${o.first.line} row ${o.first.row_id}: the prompt is ${o.first.prompt_tokens.toLocaleString('en-US')} tokens, more than ${o.model}'s context window of ${o.context_window.toLocaleString('en-US')}${more}; the API will refuse these requests of cell ${o.cell}\n`);
      }
      if (args.json) {
        ctx.io.out(`${JSON.stringify({ name: config.name, ...plan, cost }, null, 2)}\n`);
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
        ...(cost.unknown_models.length ? [`no price for ${cost.unknown_models.join(', ')}: its cost is unknown; add it under 'pricing:' (USD per 1M tokens)`] : []),
        ...(cost.approximate_models.length ? [`tokenizer of ${cost.approximate_models.join(', ')} unknown: counted with o200k_base, an estimate`] : []),
        ...(cost.max_completion_tokens === null ? ['some cells set no max_tokens: completion tokens and cost have no upper bound'] : []),
      ];
      const lines = [
        `${config.name}: ${plan.rows} rows × ${plan.cells.length} cells`,
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
